"""Watching a DPO run: KL(pi_theta || pi_ref) on held-out prompts (a trained adapter with its SFT reference too), the
log as a table, plain-language health flags."""

from __future__ import annotations

import math
import warnings

import torch

from helpers.models import load_model, trim_heap


def ref_adapter(model):
    """Context manager: run `model` as the reference policy (the frozen copy of the SFT adapter)."""
    from trl.trainer.utils import use_adapter

    return use_adapter(model, "ref")


@torch.no_grad()
def policy_ref_kl(model, tokenizer, prompts: list[str], max_new_tokens: int = 64, seed: int = 0,
                  ref_context=ref_adapter) -> float:
    """Monte-Carlo KL(pi_theta || pi_ref) per completion: sample from the policy at temperature 1, then average
    sum_t [log pi_theta(y_t|...) - log pi_ref(y_t|...)] over the sampled completions' tokens."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(dev)
    # its own seed, in a forked RNG: reseeding the global one would change what training draws after each
    # evaluation (dropout masks, when a learner turns dropout on), and what a learner's next cell draws
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        out = model.generate(**enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                             max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id)
    n_prompt = enc.input_ids.shape[1]
    completion = out[:, n_prompt:]
    is_eos = completion == tokenizer.eos_token_id
    after_eos = (is_eos.cumsum(1) - is_eos.long()) > 0  # tokens after the first EOS are padding
    mask = (~after_eos).long()
    attention = torch.cat([enc.attention_mask, mask], 1)
    positions = (attention.cumsum(-1) - 1).clamp(min=0)

    def logps():  # the LM head over the completion positions only: the prompt's logits would be thrown away
        logits = model(input_ids=out, attention_mask=attention, position_ids=positions,
                       logits_to_keep=completion.shape[1] + 1).logits[:, :-1]
        return torch.log_softmax(logits.float(), -1).gather(-1, completion.unsqueeze(-1)).squeeze(-1)

    policy = logps()
    with ref_context(model):
        ref = logps()
    if was_training:
        model.train()
    return float((((policy - ref) * mask).sum(1)).mean())


def policy_with_reference(model_name: str, sft_adapter, dpo_adapter):
    """A PEFT model whose "default" adapter is the DPO policy and whose "ref" adapter is the SFT model."""
    model, tokenizer = load_model(model_name, adapter=dpo_adapter, merge_adapter=False)
    model.load_adapter(str(sft_adapter), adapter_name="ref")
    model.set_adapter("default")
    return model, tokenizer


def kl_callback_class():
    """The TrainerCallback class that measures KL(pi_theta || pi_ref) at each evaluation (transformers loads lazily)."""
    from transformers import TrainerCallback

    class KLCallback(TrainerCallback):
        """At each evaluation: KL(pi_theta || pi_ref) on held-out prompts, logged as eval_kl, warned when high."""

        def __init__(self, tokenizer, prompts: list[str], max_new_tokens: int, warn_nats: float, seed: int = 0):
            self.tokenizer, self.prompts = tokenizer, prompts
            self.max_new_tokens, self.warn_nats, self.seed = max_new_tokens, warn_nats, seed
            self.history: list[dict] = []
            self.trainer = None

        def measure(self, model, step: int) -> float:
            trim_heap()  # what the evaluation just freed goes back before sampling, not on top of it
            kl = policy_ref_kl(model, self.tokenizer, self.prompts, self.max_new_tokens, seed=self.seed + step)
            self.history.append({"step": step, "eval_kl": kl})
            if kl > self.warn_nats:
                warnings.warn(f"KL(pi_theta || pi_ref) = {kl:.2f} nats at step {step} exceeds {self.warn_nats}: the "
                              "policy is drifting from the SFT reference (beta too low or learning rate too high?)",
                              stacklevel=2)
            return kl

        def on_evaluate(self, args, state, control, model=None, **kwargs):
            kl = self.measure(model, state.global_step)
            state.log_history.append({"eval_kl": kl, "step": state.global_step})

    return KLCallback


def log_frame(log_history: list[dict]):
    """Trainer log history as a DataFrame indexed by step: training rows and eval rows side by side."""
    import pandas as pd

    frame = pd.DataFrame(log_history)
    if frame.empty:
        return frame
    frame = frame.groupby("step").first().sort_index()
    frame.attrs["non_finite"] = _non_finite(log_history)  # what `training_health` flags: NaN here is also "not logged"
    return frame


# the logged values that must be finite numbers: a NaN or an infinity in any of them means the run has diverged
# (pandas' max and mean skip NaN, so without this check a NaN KL would raise no flag while a KL of 9 does)
FINITE_COLUMNS = ("loss", "rewards/margins", "eval_loss", "eval_rewards/margins", "eval_kl")


def _non_finite(log_history: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """{column: [(step, value)]} of the NaN and infinite values logged in FINITE_COLUMNS, from the raw log (in the
    frame a NaN is also what a row that did not log a column holds)."""
    found: dict[str, list[tuple[int, float]]] = {}
    for h in log_history:
        for column in FINITE_COLUMNS:
            value = h.get(column)
            if isinstance(value, (int, float)) and not math.isfinite(value):
                found.setdefault(column, []).append((h.get("step"), float(value)))
    return found


def non_finite_flags(frame) -> list[str]:
    """One flag per column of FINITE_COLUMNS that logged NaN or +-inf, naming the column, the kind and the first step.
    Exact for a frame from `log_frame`; for another frame only infinities can be told from values never logged."""
    found = frame.attrs.get("non_finite") if hasattr(frame, "attrs") else None
    if found is None:
        found = {c: [(s, float(v)) for s, v in frame[c].items() if isinstance(v, (int, float)) and math.isinf(v)]
                 for c in FINITE_COLUMNS if c in frame}
    flags = []
    for column in FINITE_COLUMNS:
        bad = found.get(column)
        if bad:
            kinds = "/".join(sorted({"NaN" if math.isnan(v) else "inf" if v > 0 else "-inf" for _, v in bad}))
            flags.append(f"{column} is {kinds} at step {bad[0][0]} ({len(bad)} logged value(s)): the run diverged; "
                         "lower the learning rate, check the data, or resume from an earlier checkpoint")
    return flags


def training_health(frame, kl_warn_nats: float = 5.0) -> list[str]:
    """Plain-language flags for the traps: a loss, reward margin or KL that is NaN or infinite (a diverged run), a
    training gap that grows while the validation gap does not, and a KL that explodes. [] when the curves look
    healthy."""
    flags = non_finite_flags(frame)
    train = frame["rewards/margins"].dropna() if "rewards/margins" in frame else []
    val = frame["eval_rewards/margins"].dropna() if "eval_rewards/margins" in frame else []
    if len(train) >= 2 and len(val) >= 1:
        train_growth = train.iloc[-max(1, len(train) // 4):].mean() - train.iloc[: max(1, len(train) // 4)].mean()
        # at step 0 the policy is the reference, so every reward margin is 0 by construction: measure the
        # validation gap's growth from there when no evaluation ran at step 0
        val_start = val.iloc[0] if val.index[0] == 0 else 0.0
        val_growth = val.iloc[-1] - val_start
        if train_growth > 0 and val_growth <= 0.1 * train_growth:
            flags.append(f"the training reward gap grew by {train_growth:.3f} but the validation gap by only "
                         f"{val_growth:.3f}: the policy is fitting these pairs, not learning the preference")
    if "eval_kl" in frame:
        kl = frame["eval_kl"].dropna()
        if len(kl) and kl.max() > kl_warn_nats:
            flags.append(f"KL(pi_theta || pi_ref) reached {kl.max():.2f} nats (> {kl_warn_nats}): the policy is "
                         "drifting from the SFT reference; raise beta or lower the learning rate")
        if len(kl) >= 3 and kl.iloc[-1] > 3 * max(kl.iloc[1:-1].max(), 0.05):
            flags.append(f"KL jumped to {kl.iloc[-1]:.2f} nats at the last evaluation: a spike, often instability")
    return flags
