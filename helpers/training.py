"""Training entry points over TRL's trainers: the week-2 SFT bootstrap (LoRA, SFTTrainer).

Every trainer config goes through `helpers.models.precision_kwargs()` (fp32 on CPU, bf16 only on GPUs that do it
natively) and turns off TRL's default gradient checkpointing where memory allows (it recomputes activations:
slower, and a 135M model does not need the memory).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import torch

from helpers.models import DEFAULT_MODEL, REPO_ROOT, load_model, precision_kwargs
from helpers.task import SYSTEM_PROMPT, format_answer

ARTIFACTS = REPO_ROOT / "artifacts"
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def lora_config(r: int = 16, alpha: int = 32, dropout: float = 0.05):
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=LORA_TARGETS, task_type="CAUSAL_LM")


def sft_records(examples: list[dict]) -> list[dict]:
    """Prompt-completion conversational records: the loss is on the answer only (TRL's completion_only_loss)."""
    return [{
        "prompt": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": e["report"]}],
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
