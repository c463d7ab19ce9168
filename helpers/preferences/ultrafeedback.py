"""The public alternative: UltraFeedback (binarized), converted to the workbook's triple format and validated."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from helpers import checks
from helpers.preferences.validation import PreferenceDataError, validate_preferences
from helpers.task import read_jsonl

LOCAL_KINDS = {".parquet": "parquet", ".jsonl": "json", ".json": "json"}
HUB_NAME = "HuggingFaceH4/ultrafeedback_binarized"
LOCAL_COPY = "data/ultrafeedback/train_prefs.jsonl"
SCHEMA = "prompt, prompt_id, chosen and rejected message lists, score_chosen, score_rejected"


class HubUnavailableError(FileNotFoundError):
    """The hub could not give the dataset (offline, or no such name); the message says to use a local copy."""


def load_ultrafeedback(source: str = HUB_NAME, split: str = "train_prefs",
                       limit: int | None = None) -> list[dict]:
    """UltraFeedback (binarized) as workbook triples.

    `source` is the hub name (needs network) or a local .parquet / .jsonl / .json file with the same schema:
    `prompt` (str), `prompt_id`, `chosen` and `rejected` (message lists that begin with the user turn),
    `score_chosen`, `score_rejected`. Returns rows {"prompt": [user msg], "chosen": [assistant msgs...],
    "rejected": [...], "id", "score_chosen", "score_rejected"}; every row is validated. `limit` (>= 1) keeps the
    first rows only. A bad input is one line: the parameter and its value, or the file and what is wrong with it.
    """
    if limit is not None:
        checks.count("limit", limit)
    if is_local(source):
        ds = _read_local(Path(source).expanduser().resolve())
    else:
        ds = _load_hub(source, split)
    if limit is not None:
        ds = ds[:limit] if isinstance(ds, list) else ds.select(range(min(limit, len(ds))))
    if len(ds) == 0:
        raise PreferenceDataError(f"{source}: no rows")
    rows, bad = [], []
    for i, ex in enumerate(ds):
        try:
            rows.append(_convert_ultrafeedback(ex))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            bad.append((i, f"missing field {err}" if isinstance(err, KeyError) else str(err)))
    bad += [(i, p) for i, p in validate_preferences(rows, raise_on_error=False)]
    if bad:
        shown = "; ".join(f"row {i}: {reason}" for i, reason in sorted(bad)[:20])
        more = f"; ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise PreferenceDataError(f"{len(bad)} unusable UltraFeedback rows (counted from 0) in {source}: "
                                  f"{shown}{more}")
    return rows


def is_local(source: str) -> bool:
    """A path (an existing file, a known suffix, or starting with . / ~), not a hub name."""
    path = Path(source).expanduser()
    return path.exists() or path.suffix in LOCAL_KINDS or str(source).startswith((".", "/", "~"))


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the hub answers at all: offline, `datasets` retries for half a minute and logs every retry."""
    if any(os.environ.get(k, "0").lower() not in ("", "0", "false") for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
    except OSError:
        return False
    return True


def preview_ultrafeedback(source: str = HUB_NAME, limit: int = 200):
    """Up to `limit` UltraFeedback pairs as a readable DataFrame (prompt, chosen, rejected, score gap, chosen
    longer), after a short summary: how many, the mean score gap, and how often the chosen answer is the longer
    one (the verbosity question: a judge that likes long answers teaches DPO to ramble).

    A hub name that cannot be reached prints one line saying where to put a local copy and returns None; a bad
    local file raises the loader's one-line PreferenceDataError."""
    import pandas as pd

    checks.count("limit", limit)
    offline = (f"UltraFeedback: {source!r} cannot be reached (offline?); put a local copy of its train_prefs split "
               f"at {LOCAL_COPY} (or .parquet), in the dataset's schema ({SCHEMA}), and set "
               "ultrafeedback_source to that path")
    if not is_local(source) and not hub_reachable():
        print(offline)
        return None
    try:
        rows = load_ultrafeedback(source, limit=limit)
    except HubUnavailableError as err:
        print(f"{offline} [{err.__cause__.__class__.__name__ if err.__cause__ else 'error'}]")
        return None

    def text(messages):
        return "\n".join(m["content"] for m in messages)

    frame = pd.DataFrame([{"prompt": r["prompt"][0]["content"], "chosen": text(r["chosen"]),
                           "rejected": text(r["rejected"]),
                           "score gap": _gap(r["score_chosen"], r["score_rejected"]),
                           "chosen longer": len(text(r["chosen"])) > len(text(r["rejected"]))} for r in rows])
    gap = frame["score gap"].mean()
    gap_text = "no scores" if pd.isna(gap) else f"mean score gap {gap:.2f}"
    print(f"{len(frame)} UltraFeedback pairs from {source}: {gap_text}; the chosen answer is the longer one in "
          f"{frame['chosen longer'].mean():.0%} of them")
    return frame


def _gap(chosen, rejected) -> float:
    try:
        return float(chosen) - float(rejected)
    except (TypeError, ValueError):
        return float("nan")


def _read_local(path: Path):
    """A local file's rows: JSONL through the workbook's reader (file:line for bad JSON, bad bytes, repeated keys),
    parquet and JSON through `datasets`, whose errors become one line naming the file."""
    from datasets import load_dataset

    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (a local UltraFeedback file: .parquet, .jsonl or .json)")
    kind = LOCAL_KINDS.get(path.suffix)
    if kind is None or not path.is_file():
        raise PreferenceDataError(f"{path}: expected a .parquet, .jsonl or .json file")
    if path.suffix == ".jsonl":
        return read_jsonl(path, validate=None, hint="")
    if path.stat().st_size == 0 or (kind == "json" and not path.read_bytes().strip()):
        raise PreferenceDataError(f"{path}: empty file, no rows")  # `datasets` fails on it with a bare StopIteration
    try:
        return load_dataset(kind, data_files=str(path), split="train")
    except Exception as err:  # ArrowInvalid, DatasetGenerationError, UnicodeDecodeError, StopIteration-as-Runtime...
        root = err.__cause__ or err  # `datasets` wraps the parser's message ("JSON parse error ... in row 1")
        first = (str(root).strip().splitlines() or [""])[0][:200]
        raise PreferenceDataError(f"{path}: could not be read as {kind} ({type(root).__name__}: {first})") from err


def _load_hub(source: str, split: str):
    from datasets import load_dataset

    try:
        return load_dataset(source, split=split)
    except Exception as err:  # offline: ConnectionError, OfflineModeIsEnabled, DatasetNotFoundError ...
        raise HubUnavailableError(
            f"could not load {source!r} split {split!r} ({type(err).__name__}). Offline, download the parquet "
            "file elsewhere and pass its local path as `source`.") from err


def _convert_ultrafeedback(ex: dict) -> dict:
    prompt = ex["prompt"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt must be a non-empty string")

    def completion(key):
        msgs = ex[key]
        if not isinstance(msgs, list) or not msgs:
            raise ValueError(f"{key} must be a non-empty list of messages")
        if msgs[0].get("role") != "user" or msgs[0].get("content") != prompt:
            raise ValueError(f"{key} must start with the user turn that repeats the prompt")
        rest = [{"role": m["role"], "content": m["content"]} for m in msgs[1:]]
        if not rest:
            raise ValueError(f"{key} has no assistant answer after the prompt")
        return rest

    return {"prompt": [{"role": "user", "content": prompt}], "chosen": completion("chosen"),
            "rejected": completion("rejected"), "id": str(ex.get("prompt_id", "")),
            "score_chosen": ex.get("score_chosen"), "score_rejected": ex.get("score_rejected")}
