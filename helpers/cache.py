"""Honest reuse of expensive work: content keys, one writer at a time, and checkpoints that are whole.

This file exists because every long phase of the week (SFT, sampling and judging, DPO) is cached or resumable,
and a cache is only safe to reuse when what it was built from is byte-for-byte what is asked for now. Paths and
names are not enough: an adapter retrained into the same folder, or a data file edited in place, keeps its
path. So caches are keyed by `content_hash` of their inputs, writers take `exclusive` on what they write, and a
checkpoint is resumed from only when `checkpoint_problem` finds it complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

CHECKPOINT_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "pytorch_model.bin")


def content_hash(obj, n: int = 16) -> str:
    """sha256 (first n hex digits) of a JSON-serialisable object, key order ignored. Anything JSON cannot write
    is a TypeError, not a key made of its repr (which could hold a memory address and never match again)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:n]


ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")
# What makes a base model's answers besides its weights: architecture, decoding defaults, tokenizer, chat template.
# Small files, hashed on every cache lookup; the weights themselves are not (hundreds of MB to GB).
MODEL_FILES = ("config.json", "generation_config.json", "tokenizer_config.json", "special_tokens_map.json",
               "tokenizer.json", "chat_template.jinja")


def files_digest(folder: str | Path, names: tuple[str, ...]) -> str:
    """sha256 (16 hex) of the named files in `folder` that exist, each with its name."""
    folder = Path(folder)
    h = hashlib.sha256()
    for name in names:
        path = folder / name
        if path.exists():
            h.update(name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def adapter_digest(adapter_dir: str | Path) -> str:
    """sha256 (16 hex) of an adapter's weights and config: caches built from an adapter are keyed by its
    contents, so retraining into the same folder does not reuse samples of the old model."""
    return files_digest(adapter_dir, ADAPTER_FILES)


def model_digest(model_path: str | Path) -> str | None:
    """sha256 (16 hex) of a local base model folder's config, generation config and tokenizer files (MODEL_FILES);
    None for a hub id (nothing local to read)."""
    return files_digest(model_path, MODEL_FILES) if Path(model_path).is_dir() else None


def model_key(model_name: str, model_path: str | Path, adapter, **settings) -> dict:
    """What a cache of one model's outputs is keyed by: the base model as named and its files' digest
    (`model_path`: the folder it resolves to), the adapter's digest (None for the base alone), not its path, and
    the settings that change the outputs (dtype, device, batch size, prompt...)."""
    return {"model": str(model_name), "model_files": model_digest(model_path),
            "adapter": adapter_digest(adapter) if adapter else None, **settings}


def write_atomic(path: Path, text: str) -> None:
    """Write `path` whole or not at all: a temporary file beside it, then os.replace. A kill in the middle, or a
    second writer, never leaves half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def exclusive(path: str | Path, what: str):
    """Hold an exclusive lock on `path`.lock while writing `path`: a second writer (another notebook, a second
    `make workbook`) waits, with one line saying why, instead of interleaving its writes or repeating work.
    The lock goes with the process, so a killed run never leaves it held. A no-op where there is no fcntl."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; a single writer is then the learner's job
        yield
        return
    lock_path = Path(f"{path}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting: another process is writing {what} ({path}); this one continues when it is done",
                  file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def checkpoint_problem(folder: Path) -> str | None:
    """Why a Trainer checkpoint folder cannot be resumed from (a save torn by a kill or a full disk), or None."""
    state = folder / "trainer_state.json"
    if not state.exists():
        return "no trainer_state.json"
    try:
        json.loads(state.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "trainer_state.json is not valid JSON"
    if not any((folder / name).exists() for name in CHECKPOINT_WEIGHTS):
        return "no weights"
    if not (folder / "optimizer.pt").exists():
        return "no optimizer.pt"
    return None


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest complete checkpoint-N folder in output_dir, to resume an interrupted run from. A torn one is
    skipped with a one-line warning (it stays on disk; the run resumes from the one before, or starts over)."""
    folders = [p for p in Path(output_dir).glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    for folder in sorted(folders, key=lambda p: int(p.name.split("-")[-1]), reverse=True):
        problem = checkpoint_problem(folder)
        if problem is None:
            return str(folder)
        warnings.warn(f"skipping the incomplete checkpoint {folder} ({problem}): a save was interrupted",
                      stacklevel=2)
    return None


def cached_per_example(path: str | Path, settings: dict, examples: list[dict], compute, value: str,
                       key: tuple[str, ...] = ("id",)) -> list:
    """One value per example, kept in the JSONL file `path`: a row {<key fields>, "settings", <value>} per example.
    A row is reused only when its `settings` equal these and its key fields equal the example's (e.g. ("id",
    "report"): a report edited in place is computed again). `compute(todo)` is called once, only when some
    examples have no row, and returns their values in order; they are appended. A torn last line is ignored (that
    example is computed again). Returns the values in the examples' order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cached = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if row.get("settings") == settings and all(k in row for k in (*key, value)):
                cached[tuple(row[k] for k in key)] = row[value]
    todo = [e for e in examples if tuple(e[k] for k in key) not in cached]
    if todo:
        fresh = compute(todo)
        with path.open("a", encoding="utf-8") as f:
            for e, v in zip(todo, fresh, strict=True):
                f.write(json.dumps({**{k: e[k] for k in key}, "settings": settings, value: v}) + "\n")
                cached[tuple(e[k] for k in key)] = v
    return [cached[tuple(e[k] for k in key)] for e in examples]
