"""Strict JSONL reading: the one place the workbook's JSONL files are decoded, so every bad byte, line or key is
one DataError naming file:line and the fix. Knows nothing of the task; `task.read_jsonl` adds its schema check."""

from __future__ import annotations

import json
from pathlib import Path


class DataError(ValueError):
    """A data file that does not follow the schema; the message names the file, row and reason."""


def read_jsonl(path: Path, validate=None, hint: str = "") -> list[dict]:
    """Read a JSONL file of rows. Every bad input is one DataError line naming the file (absolute path) and,
    for a bad line, its number and the reason: invalid JSON, a byte that is not UTF-8, a key given twice, a repeated
    id, a row that `validate(row, "file:line")` rejects. A file with no rows at all is an error too, not an empty split.
    `hint` (what to do about a missing or empty file) ends those two messages."""
    hint = f"; {hint}" if hint else ""
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist{hint}")
    if not path.is_file():
        raise DataError(f"{path} is not a file")
    rows: list[dict] = []
    first_line_of: dict[str, int] = {}
    for lineno, row in iter_jsonl(path):
        where = f"{path}:{lineno}"
        row = validate(row, where) if validate else row
        row_id = row.get("id") if isinstance(row, dict) else None
        if isinstance(row_id, str):
            if row_id in first_line_of:
                raise DataError(f"{where}: duplicate id {row_id!r} (first on line {first_line_of[row_id]})")
            first_line_of[row_id] = lineno
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no rows (the file is empty or holds only blank lines){hint}")
    return rows


def iter_jsonl(path: Path):
    """(line number, value) of each non-blank line of a JSONL file, read strictly: the one place the workbook's JSONL
    files are decoded. A DataError naming file:line and the fix for a byte that is not UTF-8, invalid JSON (a last
    line torn by an interrupted write included) or a key given twice; a UTF-8 BOM on the first line is allowed."""
    path = Path(path)
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            row = _decode_line(raw, f"{path}:{lineno}", strip_bom=lineno == 1)
            if row is not _BLANK:
                yield lineno, row


_BLANK = object()


def _decode_line(raw: bytes, where: str, strip_bom: bool = False):
    """One JSONL line as a Python value, or _BLANK; a DataError naming `where` if it is not UTF-8 JSON."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{where}: not UTF-8 (byte 0x{raw[err.start]:02x} at byte {err.start + 1} of the line); "
                        "save the file as UTF-8") from None
    line = line.rstrip("\r\n")  # so a column number counts on this line, not on the next one
    if strip_bom:
        line = line.removeprefix("\ufeff")
    if not line.strip():
        return _BLANK
    try:
        return json.loads(line, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as err:
        torn = "" if raw.endswith(b"\n") else "; the last line is incomplete (torn by an interrupted write?)"
        raise DataError(f"{where}: not valid JSON (column {err.colno}: {err.msg}){torn}") from None
    except _DuplicateKey as err:
        raise DataError(f"{where}: key {err.args[0]!r} given twice (json would keep the last value silently)") from None
    except RecursionError:
        raise DataError(f"{where}: not valid JSON (nested too deeply)") from None


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return obj
