"""DPO with TRL's DPOTrainer on the SFT policy, the frozen SFT adapter as reference: config, trainer, run."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import torch

from helpers import checks
from helpers.cache import adapter_digest, content_hash, exclusive
from helpers.models import (
    DEFAULT_MODEL,
    load_model,
    load_tokenizer,
    precision_kwargs,
    precision_used,
    read_adapter,
    release_memory,
)
from helpers.paths import ARTIFACTS
from helpers.preferences import PreferenceDataError, validate_preferences
from helpers.progress import duration, quiet_library_bars
from helpers.training import shared_prefix
from helpers.training.common import (
    compact_lm_head,
    compile_decoder_layers,
    compiles,
    config_hash,
    data_line,
    last_checkpoint,
    release_memory_callback,
    store_frozen_weights,
)
from helpers.training.monitor import kl_callback_class, log_frame, policy_ref_kl, policy_with_reference


@dataclass
class DPORunConfig:
    """Everything a DPO run needs besides the data; a notebook, a YAML file and `accelerate launch` all fill it.

    The defaults start from the course's (1 epoch, beta 0.1); the learning rate is higher than its 5e-6 for full
    fine-tuning, because a LoRA adapter has far fewer, zero-centred parameters. Bad values fail here, on one line.
    """

    model_name: str = DEFAULT_MODEL
    sft_adapter: str = ""  # the week-2 SFT adapter: both the starting policy and the frozen reference
    beta: float = 0.1
    learning_rate: float = 1e-4
    # weight of an NLL term on the chosen answer added to the DPO loss (RPO; TRL's loss_type=["sigmoid", "sft"]):
    # keeps the chosen answers likely while the margin grows, against likelihood displacement. 0 = plain DPO
    nll_weight: float = 0.0
    epochs: float = 1.0
    max_steps: int = -1
    # pairs per micro-batch, in training and in evaluation; 2 x 8 = the effective batch of 16 pairs. With each
    # prompt computed once, 2 pairs without checkpointing fit about the memory 1 took with it (`make bench`)
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
    # each pair's prompt computed once, chosen and rejected packed in one row (helpers.training.shared_prefix): the
    # same losses and gradients in less time. False: TRL's own batches, prompt computed twice
    share_prefix: bool = True
    # reference log-probs computed once before training (TRL's precompute_ref_log_probs): the same losses, a little
    # less time, much more memory. Off: the reference runs with each micro-batch instead
    precompute_ref: bool = False
    # recompute activations in the backward pass instead of keeping them: the same gradients, less memory for more
    # time (docs/memory.md; Session B's `low_memory`). Off: every micro-batch saves a forward pass
    gradient_checkpointing: bool = False
    # the decoder layers compiled with torch.compile (training.common.compile_decoder_layers): faster steps after a
    # one-off compile; dropout draws differ from eager ones, so the weights are not bit-identical. False: eager
    compile_layers: bool = True
    # frozen base weights stored in the autocast dtype where training runs under autocast (bf16 on a CPU with native
    # bf16; training.common.store_frozen_weights): the same arithmetic in less memory. False: fp32, cast per op
    frozen_in_autocast_dtype: bool = True
    report_to: str = "none"  # "none", "wandb", "trackio", "tensorboard" (when installed)
    seed: int = 0
    checkpoint_dir: str = ""  # where checkpoints go (resume); default artifacts/dpo/<hash of config + data>
    extra: dict = field(default_factory=dict)  # any other DPOConfig field, passed through

    def __post_init__(self):
        checks.all_of(*(partial(rule, name, getattr(self, name)) for name, rule in DPO_RULES.items()))


# DPORunConfig's parameter rules (helpers.checks): every bad value in one ParameterError, before any model loads
DPO_RULES = {"beta": checks.positive, "learning_rate": checks.positive, "epochs": checks.positive,
         "nll_weight": partial(checks.number, minimum=0), "max_steps": checks.steps_or_all,
         "kl_prompts": partial(checks.count, minimum=0),
         **dict.fromkeys(("batch_size", "grad_accum", "eval_steps", "save_steps", "logging_steps", "max_length"),
                         checks.count)}


def load_sft_policy(model_name: str, sft_adapter: str):
    """The SFT policy as a trainable PEFT model. Continuing to train this adapter makes TRL keep a frozen copy
    of it as the "ref" adapter: the reference is the SFT model, not the base model."""
    if not sft_adapter:
        raise ValueError("sft_adapter is empty: DPO starts from the SFT model (train or point to one first)")
    read_adapter(sft_adapter)  # a missing or broken adapter: one line, before the base model loads
    model, tokenizer = load_model(model_name, adapter=sft_adapter, trainable_adapter=True)
    model.train()
    return model, tokenizer


def dpo_args(config: DPORunConfig, output_dir: str | Path, has_eval: bool, **overrides):
    """TRL's DPOConfig for a run: the workbook's choices (bf16 autocast only where native, see `precision_kwargs`;
    gradient checkpointing as `config.gradient_checkpointing` says, off by default; a cosine schedule) plus
    `config.extra`, then `overrides` (the benchmark times TRL's own defaults with them)."""
    from trl import DPOConfig

    # TRL keeps precomputed reference log-probs in a per-process cache file of an in-memory dataset, which the other
    # ranks of `accelerate launch` cannot read: with several processes the reference runs online instead.
    precompute = config.precompute_ref and int(os.environ.get("WORLD_SIZE", "1")) == 1
    kwargs = dict(
        output_dir=str(output_dir), beta=config.beta, learning_rate=config.learning_rate,
        loss_type=["sigmoid", "sft"] if config.nll_weight > 0 else ["sigmoid"],
        loss_weights=[1.0, config.nll_weight] if config.nll_weight > 0 else None,
        num_train_epochs=config.epochs, max_steps=config.max_steps, per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size, gradient_accumulation_steps=config.grad_accum,
        max_length=config.max_length, lr_scheduler_type="cosine", warmup_steps=0.1,
        logging_steps=config.logging_steps, save_steps=config.save_steps, save_total_limit=2,
        eval_strategy="steps" if has_eval else "no", eval_steps=config.eval_steps if has_eval else None,
        gradient_checkpointing=config.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if config.gradient_checkpointing else None,
        report_to=config.report_to, seed=config.seed, dataset_num_proc=None,
        use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0, **precision_kwargs(),
        precompute_ref_log_probs=precompute, precompute_ref_batch_size=8 if precompute else None,
    )
    return DPOConfig(**{**kwargs, **config.extra, **overrides})


def make_dpo_trainer(config: DPORunConfig, train_dataset, eval_dataset=None, output_dir: str | Path = "dpo-out",
                     callbacks=None, **args_overrides):
    """TRL's DPOTrainer (with each pair's prompt computed once, `config.share_prefix`) on the SFT policy, the
    reference being the frozen SFT adapter ("ref")."""
    from trl import DPOTrainer

    validate_preferences(list(train_dataset))  # bad rows stop here, listed, before any training
    if eval_dataset is not None:
        validate_preferences(list(eval_dataset))
    compact_lm_head(config.compact_lm_head)
    model, tokenizer = load_sft_policy(config.model_name, config.sft_adapter)
    has_eval = eval_dataset is not None and len(eval_dataset) > 0
    args = dpo_args(config, output_dir, has_eval, **args_overrides)
    with quiet_library_bars():  # TRL's tokenising passes each show a datasets bar: noise, not progress
        trainer_class = shared_prefix.trainer_class() if config.share_prefix else DPOTrainer
        trainer = trainer_class(model=model, ref_model=None, args=args,
                                train_dataset=train_dataset, eval_dataset=eval_dataset if has_eval else None,
                                processing_class=tokenizer,
                                callbacks=[*(callbacks or []), release_memory_callback()])
    if config.frozen_in_autocast_dtype:
        store_frozen_weights(trainer.model, trainer.args)
    if compiles(config.compile_layers):
        compile_decoder_layers(trainer.model)
    if "ref" not in trainer.model.peft_config:
        raise RuntimeError("TRL did not create the frozen 'ref' adapter; the reference would be the base model")
    # TRL drops a pair whose prompt alone fills max_length and cuts the others there: what it kept, counted
    trainer.data_counts = {"train": length_counts(tokenizer, train_dataset, trainer.train_dataset, args.max_length)}
    if has_eval:
        trainer.data_counts["validation"] = length_counts(tokenizer, eval_dataset, trainer.eval_dataset,
                                                          args.max_length)
    for split, counts in trainer.data_counts.items():
        if counts["given"] and not counts["kept"]:
            name = "training" if split == "train" else split
            raise PreferenceDataError(
                f"every one of the {counts['given']} {name} pairs is over max_length={counts['max_length']} tokens "
                f"(TRL drops a pair whose prompt alone fills it), the longest pair is {counts['longest']} tokens: "
                f"raise max_length (to {counts['longest']} to cut none) or shorten the prompts")
    return trainer


def _pair_length(tokenizer, row) -> int:
    """Tokens of prompt + the longer answer, as TRL tokenises a pair (chat template for message lists)."""
    if isinstance(row["prompt"], str):
        return max(len(tokenizer(row["prompt"] + row[k])["input_ids"]) for k in ("chosen", "rejected"))
    return max(len(tokenizer.apply_chat_template(row["prompt"] + row[k], tokenize=True, return_dict=True)["input_ids"])
               for k in ("chosen", "rejected"))


def length_counts(tokenizer, given, prepared, max_length: int | None) -> dict:
    """What TRL kept of `given` pairs in `prepared` (its tokenised dataset): {"given", "kept", "dropped_too_long",
    "truncated" (kept pairs cut at max_length), "max_length"}, and "longest" (tokens of the longest given pair)
    when some were dropped."""
    n_given, kept = len(given), len(prepared) if prepared is not None else 0
    counts = {"given": n_given, "kept": kept, "dropped_too_long": n_given - kept, "truncated": 0,
              "max_length": max_length}
    if kept and max_length is not None:
        counts["truncated"] = sum(len(p) + max(len(c), len(r)) > max_length for p, c, r in
                                  zip(prepared["prompt_ids"], prepared["chosen_ids"], prepared["rejected_ids"],
                                      strict=True))
    if counts["dropped_too_long"]:
        counts["longest"] = max(_pair_length(tokenizer, row) for row in given)
    return counts


def prepared_tokens(prepared, max_length: int | None) -> int:
    """Tokens of prompt+chosen and prompt+rejected over one pass of TRL's tokenised pairs, as cut at max_length."""
    cap = max_length if max_length is not None else float("inf")
    return int(sum(min(len(p) + len(c), cap) + min(len(p) + len(r), cap) for p, c, r in
                   zip(prepared["prompt_ids"], prepared["chosen_ids"], prepared["rejected_ids"], strict=True)))


def trl_dpo_loss(model, ref_model, tokenizer, triples: list[dict], beta: float, output_dir: str) -> float:
    """The mean DPO loss that TRL's own DPOTrainer (loss_type="sigmoid") computes on `triples` in one batch, with
    Session B's trainer settings: Session A checks `dpo_math.dpo_loss` against it.

    `triples` are conversational: {"prompt": [messages], "chosen": [assistant msg], "rejected": [assistant msg]}.
    """
    checks.positive("beta", beta)
    if not isinstance(triples, list) or not triples:
        raise checks.ParameterError(f"triples must be a non-empty list of preference triples, "
                                    f"got {checks.show(triples)}")
    from datasets import Dataset
    from trl import DPOTrainer

    # one batch holding every triple, no truncation, and fp32: this checks the arithmetic, which bf16 would blur
    args = dpo_args(DPORunConfig(beta=beta, batch_size=len(triples)), output_dir, has_eval=False, max_length=None,
                    bf16=False, fp16=False)
    with quiet_library_bars():
        trainer = DPOTrainer(model=model, ref_model=ref_model, args=args, train_dataset=Dataset.from_list(triples),
                             processing_class=tokenizer)
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        return float(trainer.compute_loss(trainer.model, batch))


def preference_hash(rows) -> str:
    return content_hash(list(rows))


def trained_tokens(tokenizer, rows) -> int:
    """Non-padding tokens of prompt+chosen and prompt+rejected over one pass of `rows` (what a step trains on)."""
    total = 0
    for r in rows:
        for key in ("chosen", "rejected"):
            total += len(tokenizer.apply_chat_template(r["prompt"] + r[key], tokenize=True,
                                                       return_dict=True)["input_ids"])
    return total


def run_key(config: DPORunConfig, train_dataset, eval_dataset=None, kl_prompts: list[str] | None = None) -> str:
    """What a DPO run's result depends on, by content: the settings, the SFT adapter's weights (not its path), the
    training and validation pairs, the KL prompts and the precision. Its checkpoints live under this key."""

    settings = {**asdict(config), "sft_adapter": adapter_digest(config.sft_adapter) if config.sft_adapter else "",
                "checkpoint_dir": "", "compile_layers": compiles(config.compile_layers)}
    return config_hash({**settings, "data": preference_hash(train_dataset),
                        "eval": preference_hash(eval_dataset) if eval_dataset is not None else "",
                        "kl_prompts": kl_prompts or [], "precision": precision_used()["name"]})


FINISHED = "finished"  # <checkpoint dir>/finished/: the final adapter and summary of a run that completed


def folder_problem(name: str, path: str | Path) -> str | None:
    """Why `path` cannot be the folder a run writes to (it, or a folder above it, is an existing file), or None:
    checked before any model loads, not a FileExistsError at the first checkpoint."""
    path = Path(path).expanduser().absolute()
    for part in (path, *path.parents):
        if part.exists():
            if part.is_dir():
                return None
            what = "is a file" if part == path else f"is under {part}, which is a file"
            return (f"{name} {path} {what}, not a folder: point {name} at a folder (or leave it empty for the "
                    "default), or move the file away")
    return None


def check_folders(config: DPORunConfig, out_dir: str | Path | None = None) -> None:
    """ValueError, one line, when checkpoint_dir or out_dir is (under) an existing file."""
    for name, path in (("checkpoint_dir", config.checkpoint_dir), ("out_dir", out_dir)):
        problem = folder_problem(name, path) if path else None
        if problem:
            raise ValueError(problem)


def _reuse_finished(ckpt_dir: Path, out_dir: Path) -> dict | None:
    """A finished run's summary, its adapter copied to out_dir/dpo_adapter; None when the run has not finished.
    A re-run of a finished run trains nothing: no step past the end, and the summary is the original one."""
    done = ckpt_dir / FINISHED
    if not ((done / "train_summary.json").exists() and (done / "dpo_adapter" / "adapter_model.safetensors").exists()):
        return None
    summary = json.loads((done / "train_summary.json").read_text())
    adapter_dir = out_dir / "dpo_adapter"
    if adapter_dir.resolve() != (done / "dpo_adapter").resolve():
        shutil.copytree(done / "dpo_adapter", adapter_dir, dirs_exist_ok=True)
    summary.update(adapter=str(adapter_dir), reused_from=str(done))
    (out_dir / "train_summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print(f"this DPO run already finished ({done}): its adapter and summary are reused, nothing is trained")
    return summary


def train_dpo(config: DPORunConfig, train_dataset, eval_dataset=None, kl_prompts: list[str] | None = None,
              out_dir: str | Path | None = None, callbacks: list | None = None) -> dict:
    """Train, resume if interrupted, save the adapter; returns a summary dict (paths, timings, final metrics).

    Checkpoints go to config.checkpoint_dir (default artifacts/dpo/<run_key>: settings, SFT weights and data by
    content), so re-running the same training after an interruption resumes from the last complete checkpoint
    instead of starting over, and re-running a finished one reuses its result. One process trains a key at a time.
    """
    check_folders(config, out_dir)  # before anything loads
    key = run_key(config, train_dataset, eval_dataset, kl_prompts)
    ckpt_dir = Path(config.checkpoint_dir or ARTIFACTS / "dpo" / key)
    out_dir = Path(out_dir or ckpt_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # under `accelerate launch` the ranks train together and must not wait on each other's lock
    single = int(os.environ.get("WORLD_SIZE", "1")) == 1
    with exclusive(ckpt_dir, "this DPO run's checkpoints") if single else contextlib.nullcontext():
        summary = _reuse_finished(ckpt_dir, out_dir)
        if summary is None:
            summary, main_process = _train_dpo(config, train_dataset, eval_dataset, kl_prompts, ckpt_dir,
                                               out_dir / "dpo_adapter", callbacks)
            if main_process:  # under `accelerate launch`/torchrun only rank 0 writes
                _write_results(summary, ckpt_dir, out_dir)
    return summary


def _train_dpo(config, train_dataset, eval_dataset, kl_prompts, ckpt_dir: Path, adapter_dir: Path,
               callbacks) -> tuple[dict, bool]:
    """Train from the last complete checkpoint in ckpt_dir (if any) to the end, and save the adapter to adapter_dir
    on rank 0; returns (the run's summary, whether this process is rank 0)."""
    data_hash = preference_hash(train_dataset)
    callbacks = list(callbacks or [])
    kl_cb = None
    if kl_prompts:
        kl_cb = kl_callback_class()(load_tokenizer(config.model_name), kl_prompts, config.kl_max_new_tokens,
                                    config.kl_warn_nats, config.seed)
        callbacks.append(kl_cb)
    release_memory()  # whatever the previous phase freed (sampling, a deleted model) goes back first
    t_setup = time.perf_counter()
    trainer = make_dpo_trainer(config, train_dataset, eval_dataset, ckpt_dir, callbacks)
    setup_seconds = time.perf_counter() - t_setup  # model loading and, if asked, the reference log-probs pass
    main_process = trainer.is_world_process_zero()
    if main_process:
        print(f"DPO data: {data_line(trainer.data_counts)} (loaded and tokenised in {duration(setup_seconds)})")
    resume = last_checkpoint(ckpt_dir)
    if resume and main_process:
        print(f"resuming DPO training from {resume}")
    if kl_cb is not None:  # before train() loads any checkpoint the policy is the SFT model: KL ~0, a sanity check
        kl_cb.measure(trainer.model, 0, verbose=main_process)
    t0 = time.perf_counter()
    with quiet_library_bars():  # a precomputed reference's datasets map; the step and eval bars stay
        result = trainer.train(resume_from_checkpoint=resume)
    wall = time.perf_counter() - t0
    final_eval = _final_eval(trainer, eval_dataset)
    if main_process:
        trainer.model.save_pretrained(adapter_dir, selected_adapters=["default"])
        trainer.processing_class.save_pretrained(adapter_dir)
    # pairs this run trained on (all epochs, or fewer when max_steps stops it early), at the mean length of the pairs
    # TRL kept, as it cut them: a dropped pair is not counted
    counts = trainer.data_counts
    n_train = counts["train"]["kept"]
    pairs = min(n_train * config.epochs, trainer.state.global_step * config.batch_size
                * config.grad_accum * trainer.args.world_size)
    tokens = prepared_tokens(trainer.train_dataset, trainer.args.max_length) * pairs / max(1, n_train)
    summary = {
        "adapter": str(adapter_dir), "checkpoint_dir": str(ckpt_dir), "resumed_from": resume,
        "train_seconds": wall, "global_steps": trainer.state.global_step,
        "train_runtime": result.metrics.get("train_runtime"), "setup_seconds": setup_seconds, "trained_tokens": tokens,
        # over the training time plus the setup, so a precomputed reference pass is counted, not hidden
        "tokens_per_second": (tokens / (result.metrics["train_runtime"] + setup_seconds)
                              if result.metrics.get("train_runtime") else None),
        "preference_hash": data_hash, "n_train": n_train, "n_train_given": len(train_dataset),
        "n_eval": counts.get("validation", {}).get("kept", 0),
        "n_eval_given": len(eval_dataset) if eval_dataset is not None else 0, "data": counts,
        "final_eval": final_eval,
        "log_history": trainer.state.log_history + [h for h in (kl_cb.history if kl_cb else []) if h["step"] == 0],
        "config": asdict(config), "world_size": trainer.args.world_size, "precision": precision_used(),
    }
    del trainer
    release_memory()
    return summary, main_process


def _final_eval(trainer, eval_dataset) -> dict:
    """The validation metrics at the last step: the trainer's own evaluation there if it ran one, else a new one."""
    if eval_dataset is None or not len(eval_dataset):
        return {}
    last = next((h for h in reversed(trainer.state.log_history) if "eval_loss" in h), None)
    if last is not None and last.get("step") == trainer.state.global_step:
        return {k: v for k, v in last.items() if k.startswith("eval_") or k == "epoch"}
    return trainer.evaluate()


def _write_results(summary: dict, ckpt_dir: Path, out_dir: Path) -> None:
    """The summary next to the adapter in out_dir, then the finished marker (adapter and summary) in ckpt_dir, last:
    a kill before it leaves a run that resumes, never a half-finished one."""
    text = json.dumps(summary, indent=1, default=str)
    (out_dir / "train_summary.json").write_text(text)
    done = ckpt_dir / FINISHED
    shutil.copytree(summary["adapter"], done / "dpo_adapter", dirs_exist_ok=True)
    (done / "train_summary.json").write_text(text)


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
        policy, tok = policy_with_reference(cfg.model_name, cfg.sft_adapter, summary["adapter"])
        kl = policy_ref_kl(policy, tok, kl_prompts, cfg.kl_max_new_tokens, seed=cfg.seed)
        rows.append({"beta": beta, "steps": steps,
                     "train reward margin": float(frame["rewards/margins"].dropna().iloc[-1]),
                     "train loss": float(frame["loss"].dropna().iloc[-1]), "KL(pi_theta || pi_ref)": kl})
    return pd.DataFrame(rows)
