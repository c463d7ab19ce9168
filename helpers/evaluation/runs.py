"""Run-folder checks for Session C: which SFT and DPO adapters to compare, and which end-of-week artifacts a run
folder holds."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import notes, paths
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


REFLECTION_WORDS = 250  # the course asks for ~300 words; the checklist accepts 250 of them
PAPER_NOTES_WORDS = 500  # the course asks for ~600 words of DPO paper notes


def _paper_notes(notes_dir: Path) -> tuple[bool, str]:
    """The DPO paper notes: every notes file but the README and the InstructGPT notes, the learner's own words summed
    (a scaffold's headings and prompts do not count)."""
    files = sorted(p for p in notes_dir.glob("*.md") if p.name not in ("README.md", notes.INSTRUCTGPT_NOTES)) \
        if notes_dir.is_dir() else []
    if not files:
        return False, f"0 words: no notes yet (Session A writes a scaffold to fill: {notes_dir / notes.DPO_NOTES})"
    words = sum(notes.own_word_count(p) for p in files)
    where = ", ".join(p.name for p in files)
    need = "" if words >= PAPER_NOTES_WORDS else f" ({PAPER_NOTES_WORDS} needed; the course asks for ~600)"
    return words >= PAPER_NOTES_WORDS, f"{words} words of your own in {where}{need}"


def _instructgpt_notes(notes_dir: Path) -> tuple[bool, str]:
    path = notes_dir / notes.INSTRUCTGPT_NOTES
    if not path.is_file():
        return False, "0 words: no InstructGPT notes yet"
    words = notes.own_word_count(path)
    return words > 0, f"{words} words of your own" + ("" if words else " (only the scaffold so far)")


def _reflection(run_dir: Path) -> tuple[bool, str]:
    """Done when reflection.md exists, is not the draft Session C wrote, and has REFLECTION_WORDS words or more."""
    path, draft = run_dir / "reflection.md", run_dir / "reflection_draft.md"
    if not path.is_file():
        return False, (f"0 words: not written yet; write ~300 words of your own in {path.name}"
                       + (f" ({draft.name} is a starting point)" if draft.is_file() else ""))
    text = path.read_text(encoding="utf-8", errors="replace")
    words = notes.count_words(text)
    if draft.is_file() and text.strip() == draft.read_text(encoding="utf-8", errors="replace").strip():
        return False, f"{words} words, all of them the draft's: write it in your own words"
    if words < REFLECTION_WORDS:
        return False, f"{words} words ({REFLECTION_WORDS} needed; the course asks for ~300)"
    return True, f"{words} words"


def checklist(run_dir: str | Path, notes_dir: str | Path):
    """The end-of-week artifacts, each with its path, whether it is done and why (word counts for what the learner
    writes: the notes and the reflection), as a DataFrame."""
    import pandas as pd

    run_dir, notes_dir = Path(run_dir), Path(notes_dir)
    prefs_path = run_dir / "preferences.jsonl"
    n_triples = sum(1 for _ in prefs_path.open()) if prefs_path.exists() else 0
    items = [
        ("DPO paper notes", notes_dir / "*.md", *_paper_notes(notes_dir)),
        ("InstructGPT notes", notes_dir / notes.INSTRUCTGPT_NOTES, *_instructgpt_notes(notes_dir)),
        ("500+ preference triples", prefs_path, n_triples >= 500,
         f"{n_triples} triples" + ("" if n_triples >= 500 else " (pairs without a clear lesson are dropped on "
                                   "purpose: Session B's data report says why; more prompts give more pairs)")),
        ("DPO-trained adapter", run_dir / "dpo_adapter", (run_dir / "dpo_adapter" / "adapter_config.json").exists(),
         ""),
        ("Run card", run_dir / "run_card.md", (run_dir / "run_card.md").exists(), ""),
        ("3-way eval comparison", run_dir / "three_way_table.md", (run_dir / "three_way_table.md").exists(), ""),
        ("Reflection note", run_dir / "reflection.md", *_reflection(run_dir)),
    ]
    return pd.DataFrame([{"artifact": a, "path": str(p), "done": ok, "detail": d} for a, p, ok, d in items])


def run_card(run_dir: str | Path) -> dict | None:
    """Session B's run card (run_card.json) in the run folder, or None when there is none or it cannot be read."""
    try:
        card = json.loads((Path(run_dir) / "run_card.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return card if isinstance(card, dict) else None


def pairs_judge(run_dir: str | Path) -> str | None:
    """The judge that built Session B's preference pairs, as its run card records it ("rubric",
    "claude:<model>"); None when the run folder has no run card that says."""
    data = (run_card(run_dir) or {}).get("preference_data")
    judge = data.get("judge") if isinstance(data, dict) else None
    return judge if isinstance(judge, str) else None
