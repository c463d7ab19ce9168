"""Checking preference rows before they reach the trainer: every bad row is named with its reason.

Rows are TRL triples, conversational (message lists: prompt = system + user, chosen and rejected = one assistant
message) or plain strings.
"""

from __future__ import annotations

from helpers.task import DataError

TRIPLE_KEYS = ("prompt", "chosen", "rejected")  # a TRL preference row, in this order


class PreferenceDataError(DataError):
    """Preference rows that must not reach the trainer; the message lists every bad row with its reason. A DataError
    (a ValueError): every malformed data file reads alike."""


def _message_problem(messages, what: str, roles: tuple[str, ...]) -> str | None:
    if not isinstance(messages, list) or not messages:
        return f"{what} must be a non-empty list of messages"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            return f"{what}[{i}] is not a {{'role': str, 'content': str}} message"
        if m["role"] not in roles:
            return f"{what}[{i}] has role {m['role']!r}, expected one of {roles}"
        if not m["content"].strip():
            return f"{what}[{i}] has empty content"
    return None


def row_problem(row) -> str | None:
    """Why one preference row is unusable, or None. Accepts conversational and plain-string rows."""
    if not isinstance(row, dict):
        return f"not a mapping but {type(row).__name__}"
    missing = [k for k in TRIPLE_KEYS if k not in row]
    if missing:
        return "missing key(s): " + ", ".join(missing)
    prompt, chosen, rejected = (row[k] for k in TRIPLE_KEYS)
    if all(isinstance(v, str) for v in (prompt, chosen, rejected)):
        for k in TRIPLE_KEYS:
            if not row[k].strip():
                return f"{k} is empty"
        return "chosen and rejected are identical" if chosen.strip() == rejected.strip() else None
    if not all(isinstance(v, list) for v in (prompt, chosen, rejected)):
        kinds = {k: type(row[k]).__name__ for k in TRIPLE_KEYS}
        return f"wrong types {kinds}: all three must be strings or all three lists of messages"
    problem = (_message_problem(prompt, "prompt", ("system", "user", "assistant"))
               or _message_problem(chosen, "chosen", ("assistant",))
               or _message_problem(rejected, "rejected", ("assistant",)))
    if problem:
        return problem
    if prompt[-1]["role"] != "user":
        return "prompt must end with a user message"
    if [m["content"].strip() for m in chosen] == [m["content"].strip() for m in rejected]:
        return "chosen and rejected are identical"
    return None


MAX_LISTED = 20  # bad rows named in one error; the rest are counted


def validate_preferences(rows, raise_on_error: bool = True, source=None, line_numbers=None) -> list[tuple[int, str]]:
    """Check every row; return [(index, reason)] of the bad ones, or raise PreferenceDataError naming them, on one
    line. `source` (the file the rows came from) and `line_numbers` (each row's line in it) make each bad row
    "<file>:<line>: reason" instead of "row <index>: reason". An empty list passes (an empty validation split is
    allowed); a caller that needs rows says so itself."""
    if isinstance(rows, (str, bytes, dict)):
        raise PreferenceDataError(f"preference rows must be a list of rows, got one {type(rows).__name__}")
    rows = list(rows)
    where = f"{source}: " if source else ""
    bad = [(i, p) for i, row in enumerate(rows) if (p := row_problem(row))]
    if bad and raise_on_error:
        def name(i):
            return f"{source}:{line_numbers[i]}" if source and line_numbers else f"row {i}"

        shown = "; ".join(f"{name(i)}: {reason}" for i, reason in bad[:MAX_LISTED])
        more = f"; ... and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
        raise PreferenceDataError(f"{where}{len(bad)} of {len(rows)} preference rows are unusable: {shown}{more}")
    return bad
