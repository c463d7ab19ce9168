"""Training over TRL's trainers, one job per file.

- `sft`: the week-2 SFT bootstrap (LoRA, SFTTrainer), cached, when the learner brings no adapter.
- `dpo`: DPO on the SFT policy with the frozen SFT adapter as reference (DPOTrainer), resumable.
- `monitor`: KL(pi_theta || pi_ref) on held-out prompts, the log as a table, health flags.
- `credit`: where a pair's reward margin comes from (the severity digit or the rest of the answer).
- `card`: the run card.
- `cli`: `python -m helpers.training dpo --config ...`.

Every trainer config goes through `helpers.models.precision_kwargs()` (bf16 autocast only where native). Gradient
checkpointing is on (issue #12): it recomputes activations, 1.31x the DPO step time, and keeps Session B's kernel
within 3 GB resident on a CPU (`DPORunConfig.gradient_checkpointing=False` trades the memory back for speed).
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
)
from helpers.training.monitor import kl_callback_class, log_frame, policy_ref_kl, ref_adapter, training_health
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
    "bootstrap_sft", "compact_lm_head", "config_hash", "dpo_args", "kl_callback_class", "last_checkpoint",
    "library_versions", "load_sft_policy", "log_frame", "lora_config", "main", "make_dpo_trainer",
    "margin_by_part", "margin_summary",
    "policy_ref_kl", "preference_hash", "ref_adapter", "resolve_sft_adapter", "run_from_config", "run_key",
    "select_sft_examples", "sft_records", "train_dpo", "train_sft", "trained_tokens", "training_health",
    "write_run_card"]
