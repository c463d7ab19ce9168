"""Reading preference JSONL files: a builder's resumable log, and the preferences file a training run is given."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.preferences.validation import PreferenceDataError


def read_records(path: str | Path) -> list[dict]:
    """A builder's log: one record per prompt; [] for a missing file. A torn last line from an interrupted write is
    ignored (that prompt is redone); bad JSON elsewhere is a PreferenceDataError naming the line."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if lineno == len(lines):
                break
            raise PreferenceDataError(f"{path.name}:{lineno}: not valid JSON") from None
    return records


def repair_torn_tail(path: Path) -> None:
    """Cut a last line left incomplete by an interrupted write, so appended records start on a fresh line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def read_preferences(prefs_path: str | Path, config_path: str | Path = "") -> tuple[list, list[int]]:
    """(records, the line each came from) of a preferences JSONL: a builder's log or plain triples.

    Unlike `read_records`, a missing, empty or non-UTF-8 file is an error: one line naming the file (and the line
    of a bad byte), and `config_path`, the run config that named it, if given."""
    path = Path(prefs_path).expanduser().resolve()
    named_in = f" (`preferences` in {Path(config_path).expanduser().resolve()})" if config_path else ""
    if not path.exists():
        raise FileNotFoundError(f"{path}: preferences file not found{named_in}; build it with "
                                "notebooks/02_preferences_and_dpo.ipynb (Session B) or fix the path")
    if not path.is_file():
        raise PreferenceDataError(f"{path}: is not a file{named_in}")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise PreferenceDataError(f"{path}:{line}: not UTF-8 (byte 0x{data[err.start]:02x}); "
                                  "save it as UTF-8") from None
    records = read_records(path)
    if not records:
        raise PreferenceDataError(f"{path}: no preference rows (the file is empty or holds only blank lines){named_in}")
    lines = [n for n, line in enumerate(text.splitlines(), 1) if line.strip()][: len(records)]
    return records, lines
