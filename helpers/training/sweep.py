"""Choosing DPO settings by measurement: short runs of several variants on the same pairs, each judged by
held-out metrics (format and severity on eval prompts, with intervals and a paired test against the SFT model),
the final validation reward margin and the KL to the reference, not by the training reward gap alone.

`python -m helpers.training sweep --config helpers/configs/dpo_sweep.yaml` runs it from a Session B run folder.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from helpers import stats
from helpers.evaluation import adapter_scores
from helpers.models import load_tokenizer
from helpers.paths import repo_path
from helpers.preferences import read_preferences, to_dataset
from helpers.task import format_prompt, load_split
from helpers.training.dpo import DPORunConfig, train_dpo
from helpers.training.monitor import log_frame


def dpo_sweep(base: DPORunConfig, variants: dict[str, dict], train_dataset, eval_dataset, eval_examples: list[dict],
              kl_prompts: list[str], out_dir: str | Path, max_new_tokens: int = 96, batch_size: int = 32):
    """One row per variant (DPORunConfig overrides on top of `base`), plus the SFT model as the first row:
    held-out format and severity with 95% bootstrap intervals, the severity change against SFT with a sign
    test, the last validation reward margin and accuracy, and the last KL(pi_theta || pi_ref). A DataFrame."""
    import pandas as pd

    out_dir = Path(out_dir)
    hard = [bool(e.get("hard_case")) for e in eval_examples]
    sft = adapter_scores("SFT", base.model_name, base.sft_adapter, eval_examples, max_new_tokens, batch_size)
    rows = []

    def row(label, table, extra):
        fmt = stats.bootstrap_ci(table["format_ok"])
        sev = stats.bootstrap_ci(table["severity_match"])
        diff = stats.paired_diffs(sft["severity_match"], table["severity_match"])
        hard_sev = table["severity_match"][hard].mean() if any(hard) else float("nan")
        return {"variant": label, **extra, "format": round(fmt[0], 3),
                "severity": f"{sev[0]:.3f} [{sev[1]:.3f}, {sev[2]:.3f}]", "severity (hard cases)": round(hard_sev, 3),
                "severity vs SFT": round(float(diff.mean()), 3), "p (sign test)": round(stats.sign_test(diff), 4)}

    rows.append(row("SFT", sft, {}))
    for label, overrides in variants.items():
        config = DPORunConfig(**{**asdict(base), **overrides, "checkpoint_dir": ""})
        summary = train_dpo(config, train_dataset, eval_dataset, kl_prompts=kl_prompts, out_dir=out_dir / label)
        frame = log_frame(summary["log_history"])

        def last(col, frame=frame):
            return round(float(frame[col].dropna().iloc[-1]), 3) if col in frame and frame[col].notna().any() else None

        table = adapter_scores(label, config.model_name, summary["adapter"], eval_examples, max_new_tokens,
                               batch_size)
        rows.append(row(label, table, {"steps": summary["global_steps"], "val margin": last("eval_rewards/margins"),
                                       "val accuracy": last("eval_rewards/accuracies"), "KL last": last("eval_kl")}))
    frame = pd.DataFrame(rows).set_index("variant")
    out_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_dir / "sweep.csv")
    return frame


def run_sweep_from_config(path: str | Path):
    """The sweep from a YAML file: `preferences` (Session B's preferences.jsonl), `dpo` (the base DPORunConfig),
    `variants` ({name: {field: value}}), `train_pairs` (use the first n training pairs; 0 = all), `eval_prompts`
    (first n of the eval split), `kl_prompts_from_eval`, `val_fraction`, `out_dir`."""
    import yaml

    spec = yaml.safe_load(Path(path).read_text())
    dpo = spec.get("dpo", {})  # the config's paths are relative to the repository root, wherever the command runs
    base = DPORunConfig(**{k: str(repo_path(v)) if k in ("sft_adapter", "checkpoint_dir") and v else v
                           for k, v in dpo.items()})
    records, _ = read_preferences(repo_path(spec["preferences"]), path)  # missing or empty: one line naming it
    data = to_dataset(records, val_fraction=spec.get("val_fraction", 0.1), seed=base.seed)
    train = data["train"]
    if spec.get("train_pairs"):
        train = train.shuffle(seed=base.seed).select(range(min(int(spec["train_pairs"]), len(train))))
    tok = load_tokenizer(base.model_name)
    evals = load_split("eval")
    kl_prompts = [format_prompt(tok, e["report"]) for e in evals[-int(spec.get("kl_prompts_from_eval", 8)):]]
    return dpo_sweep(base, spec["variants"], train, data["validation"], evals[: int(spec.get("eval_prompts", 140))],
                     kl_prompts, repo_path(spec["out_dir"]))
