"""Run-folder checks for Session C: which SFT and DPO adapters to compare, and which end-of-week artifacts a run
folder holds."""

from __future__ import annotations

from pathlib import Path

from helpers import paths
from helpers.adapters import read_adapter
from helpers.paths import load_metrics, repo_path

_MAKES_ADAPTERS = "notebooks/02_preferences_and_dpo.ipynb (or `make workbook`) produces it"


def resolve_adapters(run_dir: str | Path, sft_adapter: str = "", dpo_adapter: str = "") -> tuple[Path, Path]:
    """The SFT and DPO adapters to compare: given explicitly, or the ones Session B recorded in the run folder.
    Each is checked by adapters.read_adapter; a missing one gets an error naming what produces it."""
    if not (sft_adapter and dpo_adapter):
        try:
            recorded = load_metrics(run_dir, "02_preferences_and_dpo")
        except FileNotFoundError:
            done = sorted(paths.RUNS_DIR.glob("*/02_preferences_and_dpo.metrics.json"), key=lambda p: p.stat().st_mtime)
            hint = (f"; the newest run with Session B results is {done[-1].parent}: set run_dir = "
                    f"\"{done[-1].parent.relative_to(paths.RUNS_DIR.parent)}\"" if done else "")
            raise FileNotFoundError(
                f"no Session B results in run_dir {Path(run_dir).resolve()}: run notebooks/02_preferences_and_dpo.ipynb"
                f" with the same run_dir first, or set sft_adapter and dpo_adapter{hint}") from None
        sft_adapter = sft_adapter or recorded["sft_adapter"]
        dpo_adapter = dpo_adapter or recorded["dpo_adapter"]
    sft_path, dpo_path = repo_path(sft_adapter), repo_path(dpo_adapter)  # relative: from the repository root
    for what, path in (("SFT", sft_path), ("DPO", dpo_path)):
        try:
            read_adapter(path)
        except FileNotFoundError as err:  # models.ModelNotFoundError: keep its class, add what makes the adapter
            raise type(err)(f"the {what} adapter is missing: {err}: {_MAKES_ADAPTERS}") from None
    return sft_path, dpo_path


def checklist(run_dir: str | Path, notes_dir: str | Path):
    """End-of-week artifacts, each with its path and whether it exists (a DataFrame)."""
    import pandas as pd

    run_dir, notes_dir = Path(run_dir), Path(notes_dir)
    prefs_path = run_dir / "preferences.jsonl"
    n_triples = sum(1 for _ in prefs_path.open()) if prefs_path.exists() else 0
    notes = sorted(p for p in notes_dir.glob("*.md") if p.name != "README.md") if notes_dir.exists() else []
    items = [
        ("DPO paper notes", notes_dir / "*.md", bool(notes), f"{len(notes)} file(s)"),
        ("500+ preference triples", prefs_path, n_triples >= 500,
         f"{n_triples} triples" + ("" if n_triples >= 500 else " (pairs without a clear lesson are dropped on "
                                   "purpose: Session B's data report says why; more prompts give more pairs)")),
        ("DPO-trained adapter", run_dir / "dpo_adapter", (run_dir / "dpo_adapter" / "adapter_config.json").exists(),
         ""),
        ("Run card", run_dir / "run_card.md", (run_dir / "run_card.md").exists(), ""),
        ("3-way eval comparison", run_dir / "three_way_table.md", (run_dir / "three_way_table.md").exists(), ""),
        ("Reflection note", run_dir / "reflection.md", (run_dir / "reflection.md").exists(), ""),
    ]
    return pd.DataFrame([{"artifact": a, "path": str(p), "done": ok, "detail": d} for a, p, ok, d in items])
