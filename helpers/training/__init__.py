"""Training over TRL's trainers, one job per file.

- `cli`: `python -m helpers.training dpo|sweep --config ...`: a YAML run config read and checked, then the run.
- `sweep`: several DPO settings on the same pairs, each judged on held-out prompts.
- `dpo`: DPO on the SFT policy with the frozen SFT adapter as reference (DPOTrainer), resumable; TRL's loss.
- `credit`: where a pair's reward margin comes from (the severity digit or the rest of the answer).
- `card`: the run card.
- `sft`: the week-2 SFT bootstrap (LoRA, SFTTrainer), cached, when the learner brings no adapter.
- `monitor`: KL(pi_theta || pi_ref) on held-out prompts, the log as a table, health flags.
- `common`: what SFT and DPO share (LoRA setup, compact LM head, compiled layers, frozen weights stored in bf16,
  cache keys, the memory callback).

A module imports only the ones below it (`a | b`: neither imports the other):
    `__init__`, `__main__` > cli > sweep > dpo | credit | card > sft | monitor > common
Every trainer config takes its precision from `helpers.models.precision_kwargs()` (bf16 autocast only where native),
and gradient checkpointing is off by default in SFT and DPO (each fits without it; on: less memory, more time).
"""

from helpers.paths import ARTIFACTS, REPO_ROOT
from helpers.training.card import write_run_card
from helpers.training.cli import main, run_from_config
from helpers.training.common import (
    LORA_TARGETS,
    compact_lm_head,
    config_hash,
    last_checkpoint,
    library_versions,
    lora_config,
)
from helpers.training.credit import adapter_margins, margin_by_part, margin_summary
from helpers.training.dpo import (
    DPORunConfig,
    beta_demo,
    dpo_args,
    load_sft_policy,
    make_dpo_trainer,
    preference_hash,
    run_key,
    train_dpo,
    trained_tokens,
    trl_dpo_loss,
)
from helpers.training.monitor import (
    health_notes,
    health_report,
    kl_callback_class,
    log_frame,
    policy_ref_kl,
    ref_adapter,
    training_health,
)
from helpers.training.sft import (
    SFT_SELECTIONS,
    bootstrap_sft,
    resolve_sft_adapter,
    select_sft_examples,
    sft_records,
    train_sft,
)

__all__ = ["ARTIFACTS", "LORA_TARGETS", "REPO_ROOT", "SFT_SELECTIONS", "DPORunConfig",
    "adapter_margins", "beta_demo",
    "bootstrap_sft", "compact_lm_head", "health_notes", "health_report",
    "config_hash", "dpo_args", "kl_callback_class", "last_checkpoint",
    "library_versions", "load_sft_policy", "log_frame", "lora_config", "main", "make_dpo_trainer",
    "margin_by_part", "margin_summary",
    "policy_ref_kl", "preference_hash", "ref_adapter", "resolve_sft_adapter", "run_from_config", "run_key",
    "select_sft_examples", "sft_records", "train_dpo", "train_sft", "trained_tokens", "training_health",
    "trl_dpo_loss", "write_run_card"]
