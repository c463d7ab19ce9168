"""Watching a DPO run: KL(pi_theta || pi_ref) on held-out prompts (a trained adapter with its SFT reference too), the
log as a table, plain-language health flags."""

from __future__ import annotations

import contextlib
import math
import warnings

import torch

from helpers.generation import sampling_kwargs
from helpers.models import load_model, trim_heap
from helpers.progress import quiet_library_bars, status
from helpers.training.common import compute_dtype_context, eager


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
    # its own seeded generator: the global RNG is left as it was (dropout masks, when a learner turns dropout on,
    # and whatever a learner's next cell draws)
    generator = torch.Generator(device=dev).manual_seed(seed)
    # eager even where training compiled the layers: a few calls would compile new variants (a KV cache, no dropout)
    with eager(), compute_dtype_context(model):
        out = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                             **sampling_kwargs([1.0] * len(prompts), generator))
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

    with eager(), compute_dtype_context(model):
        policy = logps()
        with ref_context(model):
            ref = logps()
    if was_training:
        model.train()
    return float((((policy - ref) * mask).sum(1)).mean())


def policy_with_reference(model_name: str, sft_adapter, dpo_adapter):
    """A PEFT model whose "default" adapter is the DPO policy and whose "ref" adapter is the SFT model."""
    model, tokenizer = load_model(model_name, adapter=dpo_adapter, merge_adapter=False)
    with quiet_library_bars():
        model.load_adapter(str(sft_adapter), adapter_name="ref")
    model.set_adapter("default")
    return model, tokenizer


def kl_callback_class():
    """The TrainerCallback class that measures KL(pi_theta || pi_ref) at each evaluation (transformers loads lazily)."""
    from transformers import TrainerCallback

    class KLCallback(TrainerCallback):
        """At each evaluation: KL(pi_theta || pi_ref) on held-out prompts, logged as eval_kl, warned when high, with a
        one-line status (sampling has no bar; after the last step it is the part of the run's end a learner waits on).
        """

        def __init__(self, tokenizer, prompts: list[str], max_new_tokens: int, warn_nats: float, seed: int = 0):
            self.tokenizer, self.prompts = tokenizer, prompts
            self.max_new_tokens, self.warn_nats, self.seed = max_new_tokens, warn_nats, seed
            self.history: list[dict] = []
            self.trainer = None

        def measure(self, model, step: int, verbose: bool = True) -> float:
            trim_heap()  # what the evaluation just freed goes back before sampling, not on top of it
            what = (f"KL(pi_theta || pi_ref) at step {step}: sampling {len(self.prompts)} held-out prompts, "
                    f"{self.max_new_tokens} tokens each")
            with status(what) if verbose else contextlib.nullcontext() as line:
                kl = policy_ref_kl(model, self.tokenizer, self.prompts, self.max_new_tokens, seed=self.seed + step)
                if line is not None:
                    line.result = f"{kl:.3f} nats"
            self.history.append({"step": step, "eval_kl": kl})
            if kl > self.warn_nats:
                warnings.warn(f"KL(pi_theta || pi_ref) = {kl:.2f} nats at step {step} exceeds {self.warn_nats}: the "
                              "policy is drifting from the SFT reference (beta too low or learning rate too high?)",
                              stacklevel=2)
            return kl

        def on_evaluate(self, args, state, control, model=None, **kwargs):
            kl = self.measure(model, state.global_step, verbose=state.is_world_process_zero)
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


# KL grows from 0 as the policy leaves the reference (roughly with the square of the steps at first), so the first
# evaluations after the start always jump by a large factor. A spike is judged against the trend of the evaluations
# before the last one, and only once there are this many past step 0: with 2, steady quadratic growth multiplies the
# KL by 2.25 at the last evaluation, under the 3x that counts as a spike; with 1 it would be 4x, a false alarm.
KL_SPIKE_MIN_EARLIER = 2
KL_SPIKE_FACTOR = 3.0


def _kl_after_start(frame):
    """The KL estimates logged after step 0 (step 0 is the reference itself: KL 0 by construction)."""
    if "eval_kl" not in frame:
        return None
    kl = frame["eval_kl"].dropna()
    return kl[kl.index > 0] if len(kl) and kl.index[0] == 0 else kl


def training_health(frame, kl_warn_nats: float = 5.0) -> list[str]:
    """Plain-language flags for the traps: a loss, reward margin or KL that is NaN or infinite (a diverged run), a
    training gap that grows while the validation gap does not, a KL over `kl_warn_nats` (at any length), and a KL
    spike at the last evaluation (judged only with KL_SPIKE_MIN_EARLIER evaluations before it: `health_notes` says
    when a run is too short for that). [] when the curves look healthy."""
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
    kl = _kl_after_start(frame)
    if kl is not None and len(kl):
        if kl.max() > kl_warn_nats:
            flags.append(f"KL(pi_theta || pi_ref) reached {kl.max():.2f} nats (> {kl_warn_nats}): the policy is "
                         "drifting from the SFT reference; raise beta or lower the learning rate")
        earlier = kl.iloc[:-1]
        if len(earlier) >= KL_SPIKE_MIN_EARLIER and kl.iloc[-1] > KL_SPIKE_FACTOR * max(earlier.max(), 0.05):
            flags.append(f"KL jumped to {kl.iloc[-1]:.2f} nats at the last evaluation (step {kl.index[-1]}), over "
                         f"{KL_SPIKE_FACTOR:g}x its highest before ({earlier.max():.2f}): a spike, often instability")
    return flags


def health_notes(frame) -> list[str]:
    """What `training_health` could not judge on these curves, in plain words: [] when it judged everything."""
    kl = _kl_after_start(frame)
    if kl is None or not len(kl) or len(kl) - 1 >= KL_SPIKE_MIN_EARLIER:
        return []
    steps = ("step " if len(kl) == 1 else "steps ") + ", ".join(str(s) for s in kl.index)
    return [f"KL was measured at {len(kl)} evaluation(s) after the start ({steps}): too few to tell a spike from "
            f"the growth every run starts with (that check needs {KL_SPIKE_MIN_EARLIER + 1}); only the absolute "
            "limit kl_warn_nats was checked. A longer run, or a smaller eval_steps, gives it enough points."]


def health_report(frame, kl_warn_nats: float = 5.0) -> str:
    """The health check as text for a notebook: a "WARNING:" line per flag, a "note:" line per check the run was too
    short for, and "curves look healthy" only when nothing was flagged and every check could judge."""
    lines = [f"WARNING: {flag}" for flag in training_health(frame, kl_warn_nats)]
    notes = [f"note: {note}" for note in health_notes(frame)]
    if not lines:  # "healthy" only when every check had enough points to judge
        lines.append("no warning raised" if notes else "curves look healthy: no warning raised")
    return "\n".join(lines + notes)
