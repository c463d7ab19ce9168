"""Keeping the API key out of every message the workbook shows, logs or saves.

ANTHROPIC_API_KEY comes from the environment only. A well-formed key never appears in an error, but a pasted one
with a stray newline or space makes the HTTP layer reject the header and quote it ("Illegal header value
b'sk-ant-...\\n'"). `redact` is the one step every error text from a judge passes through before it reaches a log,
a file, a result's `error` or the screen. It imports nothing from the project (bottom layer).
"""

from __future__ import annotations

import json
import os
import re

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 8  # shorter pieces of a key are not worth hiding, and would blank out ordinary words

_PATTERNS = (
    # an Anthropic key, wherever it is: sk-ant-api03-...
    (re.compile(r"sk-ant-[A-Za-z0-9_-]+"), REDACTED),
    # an Authorization header: Bearer VALUE
    (re.compile(r"(Bearer\s+)(?!\[redacted\])[^\s'\",}\])]+"), r"\1" + REDACTED),
    # x-api-key: VALUE, 'x-api-key': 'VALUE', x-api-key=VALUE, (b'x-api-key', b'VALUE')
    (re.compile(r"""(x-api-key['"]?\s*[:=,]\s*b?['"]?)(?!\[redacted\])[^\s'",}\])]+""", re.IGNORECASE),
     r"\1" + REDACTED),
)


def _spellings(value: str) -> set[str]:
    """`value` as it may appear in a message: itself, repr-escaped (in a str or a bytes literal) and JSON-escaped."""
    forms = {value, repr(value)[1:-1], json.dumps(value)[1:-1]}
    try:
        forms.add(repr(value.encode())[2:-1])
    except UnicodeEncodeError:
        pass
    return forms


def _secrets() -> list[str]:
    """Every spelling of the environment's key worth hiding, longest first (so a piece never hides half a key)."""
    key = os.environ.get("ANTHROPIC_API_KEY") or ""
    values = {key, key.strip(), *key.split()}
    found = {form for value in values if len(value.strip()) >= MIN_SECRET_CHARS for form in _spellings(value)}
    return sorted((f for f in found if len(f.strip()) >= MIN_SECRET_CHARS), key=len, reverse=True)


def redact(text) -> str:
    """`text` with the API key (as set, stripped, its pieces, its escaped forms), any header value after `Bearer `
    or `x-api-key`, and anything shaped like an Anthropic key replaced by "[redacted]". Never raises."""
    try:
        text = text if isinstance(text, str) else str(text)
        for secret in _secrets():
            text = text.replace(secret, REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text
    except Exception:  # a message that cannot be cleaned is not shown at all
        return REDACTED
