"""The DPO run card: what was trained, on which data, with which settings and libraries, and how it ended."""

from __future__ import annotations

import json
import time
from pathlib import Path

from helpers.training.common import data_line, library_versions
from helpers.training.monitor import log_frame


def _precision_line(precision: dict | None) -> str:
    if not precision:
        return "not recorded"
    return f"{precision['name']} on {precision['device']} ({precision['reason']})"


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
                                                         **preference_counts,
                                                         # what the trainer kept: a pair over max_length is dropped
                                                         "trained_on": summary.get("data")},
        "training": {"steps": summary["global_steps"], "seconds": summary["train_runtime"],
                     "trained_tokens": summary["trained_tokens"], "tokens_per_second": summary["tokens_per_second"],
                     "resumed_from": summary["resumed_from"], "precision": summary.get("precision")},
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
             f"- pairs trained on: {data_line(summary['data']) if summary.get('data') else 'not recorded'}",
             f"- training: {card['training']['steps']} steps in {card['training']['seconds']:.0f} s, "
             f"{card['training']['tokens_per_second']:.0f} trained tokens/s",
             f"- precision: {_precision_line(summary.get('precision'))}",
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
