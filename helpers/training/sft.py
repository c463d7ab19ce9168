"""The week-2 SFT model when the learner brings none: LoRA SFT with TRL's SFTTrainer on gold answers, cached."""

from __future__ import annotations

import inspect
import json
import time
from itertools import chain, zip_longest
from pathlib import Path

import torch

from helpers import checks
from helpers.adapters import read_adapter
from helpers.cache import adapter_digest, content_hash, exclusive
from helpers.models import DEFAULT_MODEL, load_model, precision_kwargs, precision_used, release_memory
from helpers.paths import ARTIFACTS, repo_path
from helpers.progress import quiet_library_bars
from helpers.task import build_messages, format_answer
from helpers.training.common import (
    compact_lm_head,
    compile_decoder_layers,
    compiles,
    config_hash,
    data_line,
    last_checkpoint,
    lora_config,
    release_memory_callback,
    store_frozen_weights,
)


def sft_records(examples: list[dict]) -> list[dict]:
    """Prompt-completion conversational records: the loss is on the answer only (TRL's completion_only_loss)."""
    return [{
        "prompt": build_messages(e["report"]),
        "completion": [{"role": "assistant",
                        "content": format_answer(e["severity"], e["component"], e["summary"])}],
    } for e in examples]


def train_sft(examples: list[dict], output_dir: str | Path, model_name: str = DEFAULT_MODEL, epochs: float = 1.0,
              learning_rate: float = 2e-4, batch_size: int = 2, grad_accum: int = 4, lora_r: int = 16, seed: int = 0,
              save_steps: int = 10, max_length: int = 384, report_to: str = "none",
              severity_weight: float = 1.0, lr_scheduler: str = "constant_with_warmup",
              gradient_checkpointing: bool = False, compile_layers: bool = False,
              frozen_in_autocast_dtype: bool = True) -> Path:
    """LoRA SFT with TRL's SFTTrainer on gold answers; returns the adapter folder (output_dir/adapter).

    `severity_weight` > 1 weights the loss on the severity digit of each answer (see severity_weighted_trainer).
    Checkpoints every `save_steps` optimizer steps and resumes from the newest one when re-run. Gradient
    checkpointing (recomputing activations: less memory, more time) gives the same weights; it is off by default.
    `compile_layers` compiles the decoder layers (training.common.compile_decoder_layers): a little less memory, no
    faster, and other dropout draws, which in a full run gave a much weaker SFT model; off by default
    (docs/design-notes.md). `frozen_in_autocast_dtype` stores the frozen base weights in bf16 where training runs
    under bf16 autocast (training.common.store_frozen_weights): the same weights in less memory.
    """
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    output_dir = Path(output_dir)
    compact_lm_head(True)
    model, tokenizer = load_model(model_name, for_training=True)
    tokenizer.padding_side = "right"  # training pads on the right; generation helpers use left
    args = SFTConfig(
        output_dir=str(output_dir), num_train_epochs=epochs, learning_rate=learning_rate,
        per_device_train_batch_size=batch_size, gradient_accumulation_steps=grad_accum, lr_scheduler_type=lr_scheduler,
        warmup_steps=0.05, logging_steps=5, save_steps=save_steps, save_total_limit=2, seed=seed,
        max_length=max_length, gradient_checkpointing=gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if gradient_checkpointing else None,
        report_to=report_to, use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0, train_sampling_strategy="group_by_length", **precision_kwargs(),
    )
    trainer_class = severity_weighted_trainer(tokenizer, severity_weight) if severity_weight != 1 else SFTTrainer
    records = sft_records(examples)
    with quiet_library_bars():  # TRL's tokenising passes each show a datasets bar: noise, not progress
        trainer = trainer_class(model=model, args=args, train_dataset=Dataset.from_list(records),
                                processing_class=tokenizer, peft_config=lora_config(r=lora_r),
                                callbacks=[release_memory_callback()])  # the heap creeps up step by step, as in DPO
    if frozen_in_autocast_dtype:
        store_frozen_weights(trainer.model, trainer.args)
    if compiles(compile_layers):
        compile_decoder_layers(trainer.model)
    # TRL cuts each report at max_length and drops one left with no answer token: what it kept, counted and said
    counts = {"given": len(records), "kept": len(trainer.train_dataset),
              "dropped_too_long": len(records) - len(trainer.train_dataset), "max_length": max_length}
    if counts["dropped_too_long"]:
        counts["longest"] = max(_record_length(tokenizer, r) for r in records)
    if not counts["kept"]:
        raise ValueError(f"every one of the {counts['given']} SFT reports is over max_length={max_length} tokens in "
                         f"its prompt alone (TRL drops it: no answer token left to learn), the longest example is "
                         f"{counts['longest']} tokens: raise max_length (to {counts['longest']} to cut none)")
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "data_counts.json").write_text(json.dumps({"train": counts}, indent=1))
    print(f"SFT data: {data_line({'train': counts}, 'examples')}")
    trainer.train(resume_from_checkpoint=last_checkpoint(output_dir))
    adapter_dir = output_dir / "adapter"
    trainer.model.save_pretrained(adapter_dir)
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(adapter_dir)
    (output_dir / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=1))
    del trainer, model
    release_memory()
    return adapter_dir


def _record_length(tokenizer, record: dict) -> int:
    """Tokens of an SFT record's prompt and answer, through the chat template, as the trainer tokenises it."""
    return len(tokenizer.apply_chat_template(record["prompt"] + record["completion"], tokenize=True,
                                             return_dict=True)["input_ids"])


def severity_positions(labels: torch.Tensor, tokenizer) -> torch.Tensor:
    """Boolean mask over `labels` (batch x length): True at the severity digit of each answer, the token after
    `SEV` in `{"severity": "SEV2", ...` (SmolLM2 tokenises it as "SE", "V", "2")."""
    se, v = tokenizer.convert_tokens_to_ids("SE"), tokenizer.convert_tokens_to_ids("V")
    digits = torch.tensor([tokenizer.convert_tokens_to_ids(d) for d in "1234"], device=labels.device)
    mask = torch.zeros_like(labels, dtype=torch.bool)
    mask[:, 2:] = torch.isin(labels[:, 2:], digits) & (labels[:, 1:-1] == v) & (labels[:, :-2] == se)
    return mask


def severity_weighted_trainer(tokenizer, weight: float):
    """TRL's SFTTrainer with the severity digit's token loss weighted `weight` times.

    Why: the severity is one token of a ~50-token answer, so a token-averaged loss gives it a tiny share of the
    gradient, and the model memorises the summaries long before it learns to read the severity. The loss stays a
    sum over the answer's tokens divided by their count.
    """
    from trl import SFTTrainer

    class SeverityWeightedSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs["labels"]
            inputs["use_cache"] = False
            outputs = model(**inputs, fused_lm_head=True)
            # log_probs[:, t] scores labels[:, t + 1] (the causal shift): align the digit mask the same way
            weights = torch.ones_like(outputs.log_probs)
            shifted = severity_positions(labels, tokenizer)[:, 1:]
            weights[:, : shifted.shape[1]][shifted] = weight
            num_tokens = outputs.label_mask.sum() if num_items_in_batch is None else num_items_in_batch
            loss = (-outputs.log_probs * weights).sum() / torch.as_tensor(num_tokens).clamp(min=1)
            mode = "train" if self.model.training else "eval"
            valid = outputs.label_mask.sum().clamp(min=1)
            self._metrics[mode]["entropy"].append((outputs.entropy.detach().sum() / valid).item())
            self._metrics[mode]["mean_token_accuracy"].append((outputs.is_top1.sum() / valid).item())
            return (loss, outputs) if return_outputs else loss

    return SeverityWeightedSFTTrainer


# settings that do not change the trained weights (gradient checkpointing recomputes the same activations with
# the same dropout draws: tests/test_training.py checks), so a cached adapter is reused across them
NOT_IN_KEY = ("model_name", "report_to", "save_steps", "gradient_checkpointing", "frozen_in_autocast_dtype")


def bootstrap_sft(examples: list[dict], model_name: str = DEFAULT_MODEL, cache_root: Path | None = None,
                  **train_kwargs) -> Path:
    """The week-2 SFT adapter, trained once and cached under artifacts/sft/<config hash>/adapter.

    For learners who bring no week-2 adapter. A re-run with the same data and settings reuses the cached adapter;
    an interrupted run resumes from its last checkpoint.
    """
    # every setting the adapter depends on, defaults included, and the precision it trains in
    defaults = {k: p.default for k, p in inspect.signature(train_sft).parameters.items()
                if p.default is not inspect.Parameter.empty and k not in NOT_IN_KEY}
    # the examples by content (an edited data file with the same ids is new data), their ids for the learner
    config = {"model": model_name, "examples": [e["id"] for e in examples], "examples_sha": content_hash(examples),
              **defaults, **{k: v for k, v in train_kwargs.items() if k not in NOT_IN_KEY},
              "precision": precision_used()["name"]}
    config["compile_layers"] = compiles(config.get("compile_layers", False))
    out = Path(cache_root or ARTIFACTS / "sft") / config_hash(config)
    adapter = out / "adapter"
    with exclusive(out, "the bootstrap SFT adapter"):
        if (out / "finished.json").exists() and (adapter / "adapter_model.safetensors").exists():
            print(f"using the cached SFT adapter {adapter}")
            return adapter
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config, indent=1))
        t0 = time.perf_counter()
        train_sft(examples, out, model_name=model_name, **train_kwargs)
        seconds = time.perf_counter() - t0
        # written last: an adapter folder without this file is a save that a kill interrupted, and is retrained
        counts = json.loads((out / "data_counts.json").read_text()) if (out / "data_counts.json").exists() else None
        (out / "finished.json").write_text(json.dumps({"train_seconds": seconds, "digest": adapter_digest(adapter),
                                                       "data": counts}))
        print(f"trained the SFT adapter in {seconds:.0f} s: {adapter}")
    return adapter


def resolve_sft_adapter(sft_adapter: str, examples: list[dict], model_name: str = DEFAULT_MODEL,
                        **train_kwargs) -> Path:
    """The learner's own week-2 adapter when `sft_adapter` is set (checked), else the bootstrapped one."""
    if sft_adapter:
        path = repo_path(sft_adapter)  # relative paths from the repository root, in Lab as in the runner
        read_adapter(path)
        return path
    return bootstrap_sft(examples, model_name=model_name, **train_kwargs)


SFT_SELECTIONS = ("ordinary", "all")


def select_sft_examples(examples: list[dict], n: int, selection: str = "all") -> list[dict]:
    """The gold answers the bootstrap SFT trains on: `n` of the `sft` split, either from the ordinary scenarios
    only ("ordinary": the hard cases, whose wording points the wrong way, are left for preference data to teach)
    or from all of them ("all"), taken in turn from each severity (file order within one), so the classes stay
    balanced while every class has examples left: a skewed selection teaches the majority severity."""
    checks.all_of(lambda: checks.choice("sft_selection", selection, SFT_SELECTIONS),
                  lambda: checks.count("sft_examples", n))
    pool = [e for e in examples if not e.get("hard_case")] if selection == "ordinary" else list(examples)
    checks.count("sft_examples", n, maximum=len(pool))  # at most the examples there are in the chosen selection
    by_severity: dict[str, list[dict]] = {}
    for e in pool:
        by_severity.setdefault(e["severity"], []).append(e)
    in_turn = [e for e in chain.from_iterable(zip_longest(*by_severity.values())) if e is not None]
    return in_turn[:n]
