"""Reading preference JSONL files: a builder's resumable log, and the preferences file a training run is given."""

from __future__ import annotations

from pathlib import Path

from helpers.preferences.validation import PreferenceDataError
from helpers.task import DataError, iter_jsonl


def _read_rows(path: Path, objects_only: bool) -> tuple[list, list[int]]:
    """(rows, the line each came from), read strictly by `task.iter_jsonl`: a byte that is not UTF-8, invalid JSON
    (a torn last line too) or, with `objects_only`, a row that is not a JSON object is a PreferenceDataError naming
    file:line and the fix."""
    rows, lines = [], []
    try:
        for lineno, row in iter_jsonl(path):
            if objects_only and not isinstance(row, dict):
                raise PreferenceDataError(f"{path}:{lineno}: expected a JSON object (one record per line), got "
                                          f"{type(row).__name__}")
            rows.append(row)
            lines.append(lineno)
    except PreferenceDataError:
        raise
    except DataError as err:
        raise PreferenceDataError(str(err)) from None
    return rows, lines


def read_records(path: str | Path) -> list[dict]:
    """A builder's log: one record per prompt; [] for a missing file. Read strictly: a line that is not UTF-8 JSON
    (a torn last line included) is a PreferenceDataError naming file:line. Only a builder resuming its own log cuts
    a torn last line first (`repair_torn_tail`, in `sampling`): anywhere else it would silently lose a record."""
    path = Path(path).expanduser().resolve()
    if not path.exists():
        return []
    return _read_rows(path, objects_only=True)[0]


def repair_torn_tail(path: Path) -> None:
    """Cut a last line left incomplete by an interrupted write, so appended records start on a fresh line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def read_preferences(prefs_path: str | Path, config_path: str | Path = "") -> tuple[list, list[int]]:
    """(records, the line each came from) of a preferences JSONL: a builder's log or plain triples.

    Read strictly, like `read_records` (a torn last line is an error naming file:line, never a dropped row), and a
    missing or empty file is an error too: one line naming the file and `config_path`, the run config that named it,
    if given."""
    path = Path(prefs_path).expanduser().resolve()
    named_in = f" (`preferences` in {Path(config_path).expanduser().resolve()})" if config_path else ""
    if not path.exists():
        raise FileNotFoundError(f"{path}: preferences file not found{named_in}; build it with "
                                "notebooks/02_preferences_and_dpo.ipynb (Session B) or fix the path")
    if not path.is_file():
        raise PreferenceDataError(f"{path}: is not a file{named_in}")
    records, lines = _read_rows(path, objects_only=False)  # a row that is not an object: validate_preferences names it
    if not records:
        raise PreferenceDataError(f"{path}: no preference rows (the file is empty or holds only blank lines){named_in}")
    return records, lines
