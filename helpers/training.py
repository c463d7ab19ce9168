"""Training entry points over TRL's trainers: the week-2 SFT bootstrap (LoRA, SFTTrainer).

Every trainer config goes through `helpers.models.precision_kwargs()` (fp32 on CPU, bf16 only on GPUs that do it
natively) and turns off TRL's default gradient checkpointing where memory allows (it recomputes activations:
slower, and a 135M model does not need the memory).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from helpers.models import DEFAULT_MODEL, REPO_ROOT, load_model, precision_kwargs
from helpers.task import build_messages, format_answer

ARTIFACTS = REPO_ROOT / "artifacts"
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def compact_lm_head(enabled: bool = True) -> None:
    """Score only the completion positions in TRL's fused LM head, on every device.

    TRL 1.16's fused LM head (SFT and DPO) projects only the positions whose label is not -100 ("compact") when
    Triton is available, and every position (prompt and padding too) elsewhere, because on Neuron a varying number
    of positions recompiles the graph. On a CPU that costs the 28M-parameter head over the whole prompt, forward,
    backward and in the reference pass: `make bench` measured a DPO step 1.43x faster compact. The log-probs are the
    same (tests/test_training.py checks). The per-tile kernels (Triton or torch) are chosen separately and are not
    touched. `enabled=False` restores TRL's own choice.
    """
    import trl.trainer.utils as trl_utils
    from trl.kernels.chunked_logprob import _use_triton

    trl_utils._use_triton = (lambda dev: True) if enabled else _use_triton


def lora_config(r: int = 16, alpha: int = 32, dropout: float = 0.05):
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=LORA_TARGETS, task_type="CAUSAL_LM")


def sft_records(examples: list[dict]) -> list[dict]:
    """Prompt-completion conversational records: the loss is on the answer only (TRL's completion_only_loss)."""
    return [{
        "prompt": build_messages(e["report"]),
        "completion": [{"role": "assistant",
                        "content": format_answer(e["severity"], e["component"], e["summary"])}],
    } for e in examples]


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]


def last_checkpoint(output_dir: Path) -> str | None:
    """The newest checkpoint-N folder in output_dir, to resume an interrupted run from."""
    checkpoints = sorted(Path(output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(checkpoints[-1]) if checkpoints else None


def train_sft(examples: list[dict], output_dir: str | Path, model_name: str = DEFAULT_MODEL, epochs: float = 1.0,
              learning_rate: float = 2e-4, batch_size: int = 8, lora_r: int = 16, seed: int = 0,
              save_steps: int = 10, max_length: int = 384, report_to: str = "none") -> Path:
    """LoRA SFT with TRL's SFTTrainer on gold answers; returns the adapter folder (output_dir/adapter).

    Checkpoints every `save_steps` optimizer steps and resumes from the newest one when re-run.
    """
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    output_dir = Path(output_dir)
    compact_lm_head(True)
    model, tokenizer = load_model(model_name)
    tokenizer.padding_side = "right"  # training pads on the right; generation helpers use left
    args = SFTConfig(
        output_dir=str(output_dir), num_train_epochs=epochs, learning_rate=learning_rate,
        per_device_train_batch_size=batch_size, gradient_accumulation_steps=1, lr_scheduler_type="cosine",
        warmup_steps=0.05, logging_steps=5, save_steps=save_steps, save_total_limit=2, seed=seed,
        max_length=max_length, gradient_checkpointing=False, report_to=report_to, use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0, train_sampling_strategy="group_by_length", **precision_kwargs(),
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(sft_records(examples)),
                         processing_class=tokenizer, peft_config=lora_config(r=lora_r))
    trainer.train(resume_from_checkpoint=last_checkpoint(output_dir))
    adapter_dir = output_dir / "adapter"
    trainer.model.save_pretrained(adapter_dir)
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(adapter_dir)
    (output_dir / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=1))
    return adapter_dir


def bootstrap_sft(examples: list[dict], model_name: str = DEFAULT_MODEL, cache_root: Path | None = None,
                  **train_kwargs) -> Path:
    """The week-2 SFT adapter, trained once and cached under artifacts/sft/<config hash>/adapter.

    For learners who bring no week-2 adapter. A re-run with the same data and settings reuses the cached adapter;
    an interrupted run resumes from its last checkpoint.
    """
    config = {"model": model_name, "examples": [e["id"] for e in examples], **train_kwargs}
    out = Path(cache_root or ARTIFACTS / "sft") / config_hash(config)
    adapter = out / "adapter"
    if (adapter / "adapter_config.json").exists():
        print(f"using the cached SFT adapter {adapter}")
        return adapter
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=1))
    t0 = time.perf_counter()
    train_sft(examples, out, model_name=model_name, **train_kwargs)
    print(f"trained the SFT adapter in {time.perf_counter() - t0:.0f} s: {adapter}")
    return adapter


# ----------------------------------------------------------------------------- DPO

@dataclass
class DPORunConfig:
    """Everything a DPO run needs besides the data; a notebook, a YAML file and `accelerate launch` all fill it.

    The course's values are the starting point: 1 epoch, per-device batch 2, gradient accumulation 8, beta 0.1.
    Its learning rate of 5e-6 is for full fine-tuning; a LoRA adapter has far fewer, zero-centred parameters
    and needs a larger one (1e-4 here: one epoch of ~500 triples is only ~34 optimizer steps), still 4x below
    the SFT adapter's 4e-4.
    """

    model_name: str = DEFAULT_MODEL
    sft_adapter: str = ""  # the week-2 SFT adapter: both the starting policy and the frozen reference
    beta: float = 0.1
    learning_rate: float = 1e-4
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 2
    grad_accum: int = 8
    max_length: int = 512
    eval_steps: int = 10
    save_steps: int = 5
    logging_steps: int = 1
    kl_prompts: int = 8  # held-out prompts sampled at each eval for KL(pi_theta || pi_ref)
    kl_max_new_tokens: int = 64
    kl_warn_nats: float = 5.0  # a visible warning when the KL estimate exceeds this
    compact_lm_head: bool = True  # LM head on completion tokens only (see compact_lm_head); False: TRL's default
    # reference log-probs computed once, before training (TRL's precompute_ref_log_probs), so each evaluation skips
    # the reference pass: the same losses, 13% less wall time on a 48-pair run with 3 evaluations here
    precompute_ref: bool = True
    report_to: str = "none"  # "none", "wandb", "trackio", "tensorboard" (when installed)
    seed: int = 0
    checkpoint_dir: str = ""  # where checkpoints go (resume); default artifacts/dpo/<hash of config + data>
    extra: dict = field(default_factory=dict)  # any other DPOConfig field, passed through


def load_sft_policy(model_name: str, sft_adapter: str):
    """The SFT policy as a trainable PEFT model. Continuing to train this adapter makes TRL keep a frozen copy
    of it as the "ref" adapter: the reference is the SFT model, not the base model."""
    from helpers.models import ModelNotFoundError

    if not sft_adapter:
        raise ValueError("sft_adapter is empty: DPO starts from the SFT model (train or point to one first)")
    if not (Path(sft_adapter) / "adapter_config.json").exists():
        raise ModelNotFoundError(f"no SFT adapter at {sft_adapter} (expected adapter_config.json there); run the SFT "
                                 "cells of notebooks/02_preferences_and_dpo.ipynb or fix `sft_adapter`")
    model, tokenizer = load_model(model_name, adapter=sft_adapter, trainable_adapter=True)
    model.train()
    return model, tokenizer


def dpo_args(config: DPORunConfig, output_dir: str | Path, has_eval: bool, **overrides):
    """TRL's DPOConfig for a run: the workbook's choices (fp32 on CPU, no gradient checkpointing) plus
    `config.extra`, then `overrides` (used by the benchmark to time TRL's own defaults)."""
    import os

    from trl import DPOConfig

    # TRL stores precomputed reference log-probs in a datasets cache file that rank 0 writes and every rank reads;
    # an in-memory dataset caches in a per-process temporary folder, so with several processes (accelerate
    # launch) rank 1 cannot find it (FileNotFoundError, seen here): there the reference runs online instead.
    precompute = config.precompute_ref and int(os.environ.get("WORLD_SIZE", "1")) == 1
    kwargs = dict(
        output_dir=str(output_dir), beta=config.beta, loss_type=["sigmoid"], learning_rate=config.learning_rate,
        num_train_epochs=config.epochs, max_steps=config.max_steps, per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=max(2, config.batch_size * 2), gradient_accumulation_steps=config.grad_accum,
        max_length=config.max_length, lr_scheduler_type="cosine", warmup_steps=0.1,
        logging_steps=config.logging_steps, save_steps=config.save_steps, save_total_limit=2,
        eval_strategy="steps" if has_eval else "no", eval_steps=config.eval_steps if has_eval else None,
        gradient_checkpointing=False, report_to=config.report_to, seed=config.seed, dataset_num_proc=None,
        use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0, **precision_kwargs(),
        precompute_ref_log_probs=precompute, precompute_ref_batch_size=8 if precompute else None,
    )
    return DPOConfig(**{**kwargs, **config.extra, **overrides})


def make_dpo_trainer(config: DPORunConfig, train_dataset, eval_dataset=None, output_dir: str | Path = "dpo-out",
                     callbacks=None, **args_overrides):
    """TRL's DPOTrainer on the SFT policy, the reference being the frozen SFT adapter ("ref")."""
    from trl import DPOTrainer

    from helpers.preferences import validate_preferences

    validate_preferences(list(train_dataset))  # bad rows stop here, listed, before any training
    if eval_dataset is not None:
        validate_preferences(list(eval_dataset))
    compact_lm_head(config.compact_lm_head)
    model, tokenizer = load_sft_policy(config.model_name, config.sft_adapter)
    has_eval = eval_dataset is not None and len(eval_dataset) > 0
    trainer = DPOTrainer(model=model, ref_model=None, args=dpo_args(config, output_dir, has_eval, **args_overrides),
                         train_dataset=train_dataset, eval_dataset=eval_dataset if has_eval else None,
                         processing_class=tokenizer, callbacks=callbacks)
    if "ref" not in trainer.model.peft_config:
        raise RuntimeError("TRL did not create the frozen 'ref' adapter; the reference would be the base model")
    return trainer


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
    torch.manual_seed(seed)
    out = model.generate(**enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=max_new_tokens,
                         pad_token_id=tokenizer.pad_token_id)
    n_prompt = enc.input_ids.shape[1]
    completion = out[:, n_prompt:]
    is_eos = completion == tokenizer.eos_token_id
    after_eos = (is_eos.cumsum(1) - is_eos.long()) > 0  # tokens after the first EOS are padding
    mask = (~after_eos).long()
    attention = torch.cat([enc.attention_mask, mask], 1)
    positions = (attention.cumsum(-1) - 1).clamp(min=0)

    def logps():
        logits = model(input_ids=out, attention_mask=attention, position_ids=positions).logits[:, n_prompt - 1:-1]
        return torch.log_softmax(logits.float(), -1).gather(-1, completion.unsqueeze(-1)).squeeze(-1)

    policy = logps()
    with ref_context(model):
        ref = logps()
    if was_training:
        model.train()
    return float((((policy - ref) * mask).sum(1)).mean())


def kl_callback_class():
    from transformers import TrainerCallback

    class KLCallback(TrainerCallback):
        """At each evaluation: KL(pi_theta || pi_ref) on held-out prompts, logged as eval_kl, warned when high."""

        def __init__(self, tokenizer, prompts: list[str], max_new_tokens: int, warn_nats: float, seed: int = 0):
            self.tokenizer, self.prompts = tokenizer, prompts
            self.max_new_tokens, self.warn_nats, self.seed = max_new_tokens, warn_nats, seed
            self.history: list[dict] = []
            self.trainer = None

        def measure(self, model, step: int) -> float:
            kl = policy_ref_kl(model, self.tokenizer, self.prompts, self.max_new_tokens, seed=self.seed + step)
            self.history.append({"step": step, "eval_kl": kl})
            if kl > self.warn_nats:
                import warnings

                warnings.warn(f"KL(pi_theta || pi_ref) = {kl:.2f} nats at step {step} exceeds {self.warn_nats}: the "
                              "policy is drifting from the SFT reference (beta too low or learning rate too high?)",
                              stacklevel=2)
            return kl

        def on_evaluate(self, args, state, control, model=None, **kwargs):
            kl = self.measure(model, state.global_step)
            state.log_history.append({"eval_kl": kl, "step": state.global_step})

    return KLCallback


def preference_hash(rows) -> str:
    return hashlib.sha256(json.dumps(list(rows), sort_keys=True).encode()).hexdigest()[:16]


def trained_tokens(tokenizer, rows) -> int:
    """Non-padding tokens of prompt+chosen and prompt+rejected over one pass of `rows` (what a step trains on)."""
    total = 0
    for r in rows:
        for key in ("chosen", "rejected"):
            total += len(tokenizer.apply_chat_template(r["prompt"] + r[key], tokenize=True,
                                                       return_dict=True)["input_ids"])
    return total


def train_dpo(config: DPORunConfig, train_dataset, eval_dataset=None, kl_prompts: list[str] | None = None,
              out_dir: str | Path | None = None, callbacks: list | None = None) -> dict:
    """Train, resume if interrupted, save the adapter; returns a summary dict (paths, timings, final metrics).

    Checkpoints go to config.checkpoint_dir (default artifacts/dpo/<hash of config + data>), so re-running the
    same training after an interruption resumes from the last checkpoint instead of starting over.
    """
    data_hash = preference_hash(train_dataset)
    key = config_hash({**asdict(config), "data": data_hash, "checkpoint_dir": ""})
    ckpt_dir = Path(config.checkpoint_dir or ARTIFACTS / "dpo" / key)
    out_dir = Path(out_dir or ckpt_dir)
    callbacks = list(callbacks or [])
    kl_cb = None
    if kl_prompts:
        from helpers.models import load_tokenizer

        kl_cb = kl_callback_class()(load_tokenizer(config.model_name), kl_prompts, config.kl_max_new_tokens,
                                    config.kl_warn_nats, config.seed)
        callbacks.append(kl_cb)
    t_setup = time.perf_counter()
    trainer = make_dpo_trainer(config, train_dataset, eval_dataset, ckpt_dir, callbacks)
    setup_seconds = time.perf_counter() - t_setup  # model loading and, by default, the reference log-probs pass
    resume = last_checkpoint(ckpt_dir)
    if resume:
        print(f"resuming DPO training from {resume}")
    if kl_cb is not None:  # before train() loads any checkpoint the policy is the SFT model: KL ~0, a sanity check
        kl_cb.measure(trainer.model, 0)
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    wall = time.perf_counter() - t0
    final_eval = {}
    if eval_dataset is not None and len(eval_dataset):
        # the trainer evaluates at the last step already; a second pass over the same pairs would cost minutes
        last = next((h for h in reversed(trainer.state.log_history) if "eval_loss" in h), None)
        if last is not None and last.get("step") == trainer.state.global_step:
            final_eval = {k: v for k, v in last.items() if k.startswith("eval_") or k == "epoch"}
        else:
            final_eval = trainer.evaluate()
    adapter_dir = out_dir / "dpo_adapter"
    main_process = trainer.is_world_process_zero()  # under `accelerate launch`/torchrun only rank 0 writes
    if main_process:
        trainer.model.save_pretrained(adapter_dir, selected_adapters=["default"])
        trainer.processing_class.save_pretrained(adapter_dir)
    # pairs this run trained on (all epochs, or fewer when max_steps stops it early), at the data's mean length
    pairs = min(len(train_dataset) * config.epochs, trainer.state.global_step * config.batch_size
                * config.grad_accum * trainer.args.world_size)
    tokens = trained_tokens(trainer.processing_class, train_dataset) * pairs / max(1, len(train_dataset))
    summary = {
        "adapter": str(adapter_dir), "checkpoint_dir": str(ckpt_dir), "resumed_from": resume,
        "train_seconds": wall, "global_steps": trainer.state.global_step,
        "train_runtime": result.metrics.get("train_runtime"), "setup_seconds": setup_seconds, "trained_tokens": tokens,
        # over the training time plus the setup, so a precomputed reference pass is counted, not hidden
        "tokens_per_second": (tokens / (result.metrics["train_runtime"] + setup_seconds)
                              if result.metrics.get("train_runtime") else None),
        "preference_hash": data_hash, "n_train": len(train_dataset),
        "n_eval": len(eval_dataset) if eval_dataset is not None else 0,
        "final_eval": final_eval,
        "log_history": trainer.state.log_history + [h for h in (kl_cb.history if kl_cb else []) if h["step"] == 0],
        "config": asdict(config), "world_size": trainer.args.world_size,
    }
    if main_process:
        (out_dir / "train_summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary


def log_frame(log_history: list[dict]):
    """Trainer log history as a DataFrame indexed by step: training rows and eval rows side by side."""
    import pandas as pd

    frame = pd.DataFrame(log_history)
    if frame.empty:
        return frame
    return frame.groupby("step").first().sort_index()


def library_versions() -> dict:
    import importlib.metadata as md

    names = ["torch", "transformers", "trl", "peft", "datasets", "accelerate", "anthropic"]
    return {n: md.version(n) for n in names}


def write_run_card(run_dir: str | Path, version: str, summary: dict, preference_counts: dict,
                   extra_metrics: dict | None = None) -> tuple[Path, Path]:
    """The DPO run card, as JSON and Markdown in the run folder: version tag, config, preference-data hash and
    counts, library versions, final metrics."""
    run_dir = Path(run_dir)
    frame = log_frame(summary["log_history"])
    last_train = {k: float(frame[k].dropna().iloc[-1]) for k in ("loss", "rewards/margins", "rewards/accuracies")
                  if k in frame and frame[k].notna().any()}
    evals = {k: float(v) for k, v in summary.get("final_eval", {}).items() if isinstance(v, (int, float))}
    kl = frame["eval_kl"].dropna() if "eval_kl" in frame else None
    card = {
        "version": version, "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "base_model": summary["config"]["model_name"], "sft_adapter": summary["config"]["sft_adapter"],
        "adapter": summary["adapter"], "reference": "frozen copy of the SFT adapter (TRL 'ref' adapter)",
        "config": summary["config"], "preference_data": {"sha256_16": summary["preference_hash"],
                                                         **preference_counts},
        "training": {"steps": summary["global_steps"], "seconds": summary["train_runtime"],
                     "trained_tokens": summary["trained_tokens"], "tokens_per_second": summary["tokens_per_second"],
                     "resumed_from": summary["resumed_from"]},
        "final_metrics": {"train": last_train, "eval": evals,
                          "kl_last": float(kl.iloc[-1]) if kl is not None and len(kl) else None,
                          "kl_max": float(kl.max()) if kl is not None and len(kl) else None, **(extra_metrics or {})},
        "libraries": library_versions(),
    }
    json_path = run_dir / "run_card.json"
    json_path.write_text(json.dumps(card, indent=2, default=str) + "\n")
    lines = [f"# DPO run card {version}", "", f"- base model: `{card['base_model']}`",
             f"- SFT adapter (start and reference): `{card['sft_adapter']}`", f"- DPO adapter: `{card['adapter']}`",
             f"- preference data: {preference_counts} (sha256/16 `{summary['preference_hash']}`)",
             f"- training: {card['training']['steps']} steps in {card['training']['seconds']:.0f} s, "
             f"{card['training']['tokens_per_second']:.0f} trained tokens/s",
             "", "## Config", "", "| key | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in summary["config"].items() if k != "extra"]
    lines += ["", "## Final metrics", "", "| metric | value |", "| --- | --- |"]
    flat = {**{f"train {k}": v for k, v in last_train.items()}, **{k: v for k, v in evals.items()},
            "KL last (nats)": card["final_metrics"]["kl_last"], "KL max (nats)": card["final_metrics"]["kl_max"],
            **(extra_metrics or {})}
    lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in flat.items()]
    lines += ["", "## Libraries", "", ", ".join(f"{k} {v}" for k, v in card["libraries"].items()), ""]
    md_path = run_dir / "run_card.md"
    md_path.write_text("\n".join(lines))
    return json_path, md_path


def training_health(frame, kl_warn_nats: float = 5.0) -> list[str]:
    """Plain-language flags for the two traps: a training gap that grows while the validation gap does not, and
    a KL that explodes. [] when the curves look healthy."""
    flags = []
    train = frame["rewards/margins"].dropna() if "rewards/margins" in frame else []
    val = frame["eval_rewards/margins"].dropna() if "eval_rewards/margins" in frame else []
    if len(train) >= 2 and len(val) >= 2:
        train_growth = train.iloc[-max(1, len(train) // 4):].mean() - train.iloc[: max(1, len(train) // 4)].mean()
        val_growth = val.iloc[-1] - val.iloc[0]
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


def resolve_sft_adapter(sft_adapter: str, examples: list[dict], model_name: str = DEFAULT_MODEL,
                        **train_kwargs) -> Path:
    """The learner's own week-2 adapter when `sft_adapter` is set (checked), else the bootstrapped one."""
    from helpers.models import ModelNotFoundError

    if sft_adapter:
        path = Path(sft_adapter).expanduser()
        if not (path / "adapter_config.json").exists():
            raise ModelNotFoundError(f"sft_adapter={sft_adapter!r}: no adapter_config.json there. Point it at your "
                                     "week-2 LoRA adapter folder, or leave it empty to bootstrap one here")
        return path
    return bootstrap_sft(examples, model_name=model_name, **train_kwargs)


# ----------------------------------------------------------------------------- script entry point


def run_from_config(path: str | Path) -> dict:
    """Train DPO from a YAML file (the same run the notebook does). Keys: `dpo` (DPORunConfig fields),
    `preferences` (a preferences.jsonl written by Session B, or any JSONL of triples), `val_fraction`, `out_dir`,
    `kl_prompts_from_eval` (how many eval-split prompts to sample for the KL monitor)."""
    import yaml
    from datasets import Dataset

    from helpers.preferences import read_records, to_dataset, validate_preferences
    from helpers.task import format_prompt, load_split

    spec = yaml.safe_load(Path(path).read_text())
    config = DPORunConfig(**spec.get("dpo", {}))
    records = read_records(spec["preferences"])
    if records and "status" in records[0]:
        data = to_dataset(records, val_fraction=spec.get("val_fraction", 0.1), seed=config.seed)
        train, val = data["train"], data["validation"]
    else:
        validate_preferences(records)
        train, val = Dataset.from_list(records), None
    n_kl = spec.get("kl_prompts_from_eval", config.kl_prompts)
    kl_prompts = None
    if n_kl:
        from helpers.models import load_tokenizer

        tok = load_tokenizer(config.model_name)
        kl_prompts = [format_prompt(tok, e["report"]) for e in load_split("eval")[-n_kl:]]
    return train_dpo(config, train, val, kl_prompts=kl_prompts, out_dir=spec.get("out_dir"))


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Train DPO from a YAML config (also under `accelerate launch`).")
    sub = parser.add_subparsers(dest="command", required=True)
    dpo = sub.add_parser("dpo")
    dpo.add_argument("--config", required=True, help="YAML file, see helpers/configs/dpo.yaml")
    args = parser.parse_args(argv)
    summary = run_from_config(args.config)
    print(f"DPO adapter: {summary['adapter']} ({summary['global_steps']} steps, {summary['train_runtime']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def beta_demo(config: DPORunConfig, train_dataset, betas, steps: int, kl_prompts: list[str], out_dir: Path):
    """Short DPO runs on a small subset with several betas: the final training reward margin against
    KL(pi_theta || pi_ref). Low beta buys margin with drift; high beta barely moves. A DataFrame, one row per beta."""
    import pandas as pd

    rows = []
    for beta in betas:
        cfg = DPORunConfig(**{**asdict(config), "beta": beta, "max_steps": steps, "eval_steps": 10_000,
                              "checkpoint_dir": ""})
        summary = train_dpo(cfg, train_dataset, None, kl_prompts=None, out_dir=Path(out_dir) / f"beta-{beta}")
        frame = log_frame(summary["log_history"])
        policy, tok = _policy_with_reference(cfg.model_name, cfg.sft_adapter, summary["adapter"])
        kl = policy_ref_kl(policy, tok, kl_prompts, cfg.kl_max_new_tokens, seed=cfg.seed)
        rows.append({"beta": beta, "steps": steps,
                     "train reward margin": float(frame["rewards/margins"].dropna().iloc[-1]),
                     "train loss": float(frame["loss"].dropna().iloc[-1]), "KL(pi_theta || pi_ref)": kl})
    return pd.DataFrame(rows)


def _policy_with_reference(model_name: str, sft_adapter, dpo_adapter):
    """A PEFT model whose "default" adapter is the DPO policy and whose "ref" adapter is the SFT model."""
    model, tokenizer = load_model(model_name, adapter=dpo_adapter, merge_adapter=False)
    model.load_adapter(str(sft_adapter), adapter_name="ref")
    model.set_adapter("default")
    return model, tokenizer
