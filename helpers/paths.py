"""Where things live: the repository root, the data, the model cache and the run folders with their metrics.

The bottom layer: every module that needs a path takes it from here, so a relative path means the same thing in
JupyterLab (kernel in notebooks/), under papermill and in the runner (both at the root).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "data"
ARTIFACTS = REPO_ROOT / "artifacts"
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
RUNS_DIR = REPO_ROOT / "runs"


def cache_dir() -> Path:
    """Where provisioned models live: $DPO_WORKBOOK_CACHE, else artifacts/models in the repository."""
    return Path(os.environ.get("DPO_WORKBOOK_CACHE") or ARTIFACTS / "models")


def repo_path(path: str | Path) -> Path:
    """A path as the learner typed it, made absolute: ~ expanded, and a relative one taken from the repository
    root, whether the kernel started in notebooks/ (JupyterLab) or at the root (the runner, papermill)."""
    path = Path(path).expanduser()
    return (path if path.is_absolute() else REPO_ROOT / path).resolve()


def in_lab() -> bool:
    """Whether this kernel was started by JupyterLab (jupyter_server sets JPY_SESSION_NAME in its kernels), not by
    papermill or the runner (which removes the variable when it is started from a Lab terminal)."""
    return "JPY_SESSION_NAME" in os.environ


def default_run_dir() -> Path:
    """Where a notebook writes when no run_dir is given: runs/interactive in a JupyterLab kernel (jupyter_server
    sets JPY_SESSION_NAME), runs/papermill under a plain papermill run, so the two never write over each other.
    WORKBOOK_DEFAULT_RUN_DIR, when set, replaces both (the browser test uses it to leave runs/ alone)."""
    if os.environ.get("WORKBOOK_DEFAULT_RUN_DIR"):
        return repo_path(os.environ["WORKBOOK_DEFAULT_RUN_DIR"])
    return RUNS_DIR / ("interactive" if in_lab() else "papermill")


def _make_folder(path: Path) -> None:
    """Create the run folder `path`, or say in one line, before any work, that it (or a folder above it) is a
    file: mkdir's FileExistsError came late and did not say which setting to change."""
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        where = "" if blocker == path else f" (in the path {path})"
        raise NotADirectoryError(f"run_dir: {blocker} is a file, not a folder{where}: set run_dir to a folder "
                                 "(a new one is made), or leave it empty for the default")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise type(err)(err.errno, f"run_dir: cannot create the folder {path} ({err.strerror}): set run_dir to a "
                                   "folder you can write to") from None


def resolve_run_dir(run_dir: str | Path | None = "", notebook: str | None = None) -> Path:
    """The run folder a notebook writes into: the one given (relative paths from the repository root), else
    `default_run_dir()`. With `notebook`, a notebook's first call says where it writes and, when that folder
    already holds this notebook's results from an earlier run, that they are being replaced (never silently)."""
    path = repo_path(run_dir) if run_dir else default_run_dir()
    _make_folder(path)
    if notebook is not None:
        earlier = path / f"{notebook}.metrics.json"
        note = ""
        if earlier.exists():
            when = dt.datetime.fromtimestamp(earlier.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            note = (f"; it holds this notebook's results from {when}, which this run replaces "
                    "(set run_dir to another folder to keep both)")
        print(f"run folder: {path}{note}")
    return path


def save_metrics(run_dir: str | Path, notebook: str, metrics: dict) -> Path:
    """Write a notebook's key numbers to <run_dir>/<notebook>.metrics.json (tests and later notebooks read it)."""
    path = resolve_run_dir(run_dir) / f"{notebook}.metrics.json"
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True, default=float) + "\n")
    return path


def load_metrics(run_dir: str | Path, notebook: str) -> dict:
    """A notebook's key numbers from <run_dir>/<notebook>.metrics.json; missing, the line says what to run."""
    path = Path(run_dir) / f"{notebook}.metrics.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run notebooks/{notebook}.ipynb (or `make workbook`) first")
    return json.loads(path.read_text())
