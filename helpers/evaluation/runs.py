"""Run-folder checks for Session C: which SFT and DPO adapters to compare, and which end-of-week artifacts a run
folder holds."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import paths
from helpers.adapters import read_adapter
from helpers.cache import adapter_digest, model_digest
from helpers.models import resolve_model_path
from helpers.paths import load_metrics, repo_path

SESSION_B = "02_preferences_and_dpo"
_MAKES_ADAPTERS = "notebooks/02_preferences_and_dpo.ipynb (or `make workbook`) produces it"


class SessionBNotFinished(RuntimeError):
    """The run folder's run.json records that Session B's last run there did not finish: the adapters its metrics
    name may be an older run's. The one-line message names the folder, the recorded status and the fix."""


def _check_session_b_finished(run_dir: Path) -> None:
    """Refuse the adapters Session B recorded when run.json (written by `make workbook`) says its last run in this
    folder is not "ok" (failed, still running, or killed while running), unless Session B's metrics were written
    after that record (Session B re-run by hand since). No run.json, or no entry for Session B: nothing to check."""
    record_path = run_dir / "run.json"
    try:
        record = json.loads(record_path.read_text())
        status = record["notebooks"][SESSION_B]["status"]
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        return
    if status == "ok":
        return
    metrics = run_dir / f"{SESSION_B}.metrics.json"
    if metrics.exists() and metrics.stat().st_mtime_ns > record_path.stat().st_mtime_ns:
        return  # Session B finished after the runner's record: its metrics are newer than the failure
    raise SessionBNotFinished(
        f"Session B did not finish in run folder {run_dir.resolve()}: run.json records notebooks/{SESSION_B}.ipynb as "
        f"{status!r}, so the adapters it recorded may be an older run's: re-run Session B with this run_dir "
        "(`make workbook`, or the notebook by hand), or set sft_adapter and dpo_adapter to the adapters to compare")


def resolve_adapters(run_dir: str | Path, sft_adapter: str = "", dpo_adapter: str = "") -> tuple[Path, Path]:
    """The SFT and DPO adapters to compare: given explicitly, or the ones Session B recorded in the run folder.
    Recorded ones are refused (SessionBNotFinished, one line) when run.json says Session B's last run there failed
    or did not end. Each is checked by adapters.read_adapter; a missing one gets an error naming what produces it."""
    if not (sft_adapter and dpo_adapter):
        _check_session_b_finished(Path(run_dir))
        try:
            recorded = load_metrics(run_dir, SESSION_B)
        except FileNotFoundError:
            done = sorted(paths.RUNS_DIR.glob(f"*/{SESSION_B}.metrics.json"), key=lambda p: p.stat().st_mtime)
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


def model_digests(model_name: str, adapters: dict) -> dict:
    """Which weights Session C evaluates: one line per model printed (label, path, digest) and returned as
    {label: {"path", "digest"}} for the metrics. `adapters` maps a label to an adapter folder, or to None for the
    base model alone (its digest covers its config and tokenizer files: cache.model_digest)."""
    out = {}
    for label, adapter in adapters.items():
        if adapter:
            path, digest, what = str(adapter), adapter_digest(adapter), "adapter digest"
        else:
            path = resolve_model_path(str(model_name))
            digest, what = model_digest(path) or "(hub id: no local files)", "base model files digest"
            path = path if path == str(model_name) else f"{model_name} ({path})"
        out[label] = {"path": path, "digest": digest}
        print(f"{label}: {path} ({what} {digest})")
    return out


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
