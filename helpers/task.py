"""The incident-triage task: the rubric, the prompt, the output parser, the heuristic metrics and the data splits.

Everything that defines "a good answer" lives here, so the judges, the trainer and the evaluation all
agree on it. A model reads a short incident report and must answer with exactly one JSON object:

    {"severity": "SEV1".."SEV4", "component": "<service named in the report>",
     "summary": "<one sentence with only facts from the report>"}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from helpers.paths import DATA_DIR

SPLITS = ("sft", "prefs", "eval", "unseen")
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
OUTPUT_KEYS = ("severity", "component", "summary")

RUBRIC = {
    "SEV1": "critical: a customer-facing service down or unusable for most users; data loss or corruption; "
    "exposure of customer data; payments/checkout failing broadly.",
    "SEV2": "major: significant degradation or partial outage (one region, a key feature, a large share of users), "
    "no easy workaround.",
    "SEV3": "minor: limited impact (a small share of users, a non-critical feature, internal tooling), "
    "or a workaround exists.",
    "SEV4": "low: no customer impact (cosmetic, non-production, a job that recovered by itself, a noisy alert).",
}

# Short on purpose: every prompt token is paid for in every training step.
SYSTEM_PROMPT = (
    "Triage the incident report. Reply with one JSON object only: "
    '{"severity": "SEV1|SEV2|SEV3|SEV4", "component": "<service named in the report>", '
    '"summary": "<one sentence, facts from the report only>"}. '
    "SEV1 = customer-facing outage, data loss or exposure, payments failing; "
    "SEV2 = partial outage or major degradation; SEV3 = limited impact, internal tools or a workaround; "
    "SEV4 = no customer impact."
)

MAX_PARSE_CHARS = 20_000  # longer outputs are judged on their first 20k characters


def build_messages(report: str) -> list[dict]:
    """The chat messages for one incident report (system prompt + the report as the user turn)."""
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": report}]


def format_prompt(tokenizer, report: str) -> str:
    """The prompt text the model sees, through the tokenizer's chat template, ending where the answer starts."""
    return tokenizer.apply_chat_template(build_messages(report), tokenize=False, add_generation_prompt=True)


def format_answer(severity: str, component: str, summary: str) -> str:
    """The canonical answer text: one JSON object, keys in rubric order."""
    return json.dumps({"severity": severity, "component": component, "summary": summary}, ensure_ascii=False)


# ----------------------------------------------------------------------------- parsing


@dataclass
class ParsedResponse:
    """What a model's answer contains. `valid` is the strict format check; the fields are read leniently
    (from fenced or embedded JSON) so severity and component can still be scored on a sloppy answer."""

    valid: bool
    problems: list[str] = field(default_factory=list)
    severity: str | None = None
    component: str | None = None
    summary: str | None = None

    @property
    def reason(self) -> str:
        return "ok" if self.valid else "; ".join(self.problems)


_FENCE = re.compile(r"```[a-zA-Z]*\s*(.*?)(?:```|$)", re.S)
_SEV_LOOSE = re.compile(r"^\s*sev[\s_-]*([1-4])\s*$", re.I)


class JSONObject(dict):
    """A decoded JSON object that remembers the keys it held more than once. json keeps the last value of a
    repeated key without a word, so {"severity": "SEV4", "severity": "SEV1"} would be read as a clean SEV1."""

    duplicate_keys: tuple[str, ...] = ()


def _object_pairs(pairs: list[tuple[str, object]]) -> JSONObject:
    obj = JSONObject(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        obj.duplicate_keys = tuple(dict.fromkeys(k for k, _ in pairs if k in seen or seen.add(k)))
    return obj


def first_json_object(text: str) -> tuple[dict | None, int, int]:
    """The first decodable JSON object in text, with its start and end offsets; (None, -1, -1) if none.
    The object is a JSONObject: its `duplicate_keys` says which keys were given more than once."""
    decoder = json.JSONDecoder(object_pairs_hook=_object_pairs)
    start = text.find("{")
    tries = 0
    while start != -1 and tries < 50:
        try:
            obj, end = decoder.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError):
            obj = None
        if isinstance(obj, dict):
            return obj, start, end
        tries += 1
        start = text.find("{", start + 1)
    return None, -1, -1


def parse_response(text) -> ParsedResponse:
    """Parse a model's answer. Never raises, whatever `text` is; says why an answer is not valid."""
    if not isinstance(text, str):
        return ParsedResponse(False, [f"not text but {type(text).__name__}"])
    problems: list[str] = []
    if len(text) > MAX_PARSE_CHARS:
        problems.append(f"too long ({len(text)} characters)")
        text = text[:MAX_PARSE_CHARS]
    stripped = text.strip()
    if not stripped:
        return ParsedResponse(False, ["empty response"])

    body = stripped
    fence = _FENCE.search(stripped)
    if fence and "{" in fence.group(1):
        problems.append("JSON wrapped in a code fence")
        body = fence.group(1).strip()

    obj, start, end = first_json_object(body)
    if obj is None:
        if "{" in body and body.count("{") > body.count("}"):
            problems.append("truncated JSON (unbalanced braces)")
        elif "{" in body:
            problems.append("malformed JSON")
        else:
            problems.append("no JSON object found")
        return ParsedResponse(False, problems)
    if body[:start].strip() or body[end:].strip():
        problems.append("text outside the JSON object")

    duplicated = [k for k in getattr(obj, "duplicate_keys", ()) if k in OUTPUT_KEYS]
    if getattr(obj, "duplicate_keys", ()):
        problems.append("duplicate keys: " + ", ".join(obj.duplicate_keys)
                        + (" (ambiguous, not scored)" if duplicated else ""))
    obj = {k: v for k, v in obj.items() if k not in duplicated}  # a repeated field has no one value to score
    missing = [k for k in OUTPUT_KEYS if k not in obj and k not in duplicated]
    extra = sorted(k for k in obj if k not in OUTPUT_KEYS)
    if missing:
        problems.append("missing keys: " + ", ".join(missing))
    if extra:
        problems.append("extra keys: " + ", ".join(extra))

    severity = obj.get("severity")
    if isinstance(severity, str) and severity in SEVERITIES:
        pass
    elif isinstance(severity, str) and _SEV_LOOSE.match(severity):
        problems.append(f"severity {severity!r} is not spelled exactly SEV1..SEV4")
        severity = "SEV" + _SEV_LOOSE.match(severity).group(1)
    elif "severity" in obj:
        problems.append(f"severity {str(severity)[:40]!r} is not one of SEV1..SEV4")
        severity = None

    def text_field(key: str) -> str | None:
        value = obj.get(key)
        if key not in obj:
            return None
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{key} is not a non-empty string")
            return None
        return value.strip()

    component = text_field("component")
    summary = text_field("summary")
    if summary is not None and count_sentences(summary) > 1:
        problems.append("summary is more than one sentence")
    return ParsedResponse(not problems, problems, severity, component, summary)


# Words whose final period does not end a sentence: only unambiguous ones (not "min." or "prod.", which end real
# sentences in incident summaries). Letter-dot runs (e.g., i.e., U.S.) are recognised by pattern; decimals and
# versions (0.5%, v1.2) have no space after the dot, so never end a sentence anyway.
ABBREVIATIONS = frozenset("approx. ca. cf. vs. incl. excl. esp. resp. fig. est. avg. mr. mrs. ms. dr. prof. jan. "
                          "feb. apr. aug. sept. oct. nov. dec.".split())
# these end a sentence only when the next word is capitalised: "(logs, traces, etc.) are lost" vs "... etc. Users"
ABBREVIATIONS_AT_END = frozenset(["etc.", "a.m.", "p.m."])
_LETTER_DOTS = re.compile(r"(?:[a-z]\.){2,}", re.I)  # e.g. i.e. U.S. a.m.
_CLOSERS = "\"')]}\u201d\u2019"
_OPENERS = "\"'([{\u201c\u2018"


def _ends_sentence(word: str, next_word: str | None) -> bool:
    """Whether a whitespace-separated word closes a sentence: it ends in . ! or ? (before any closing quote or
    bracket), and a final period is not that of an abbreviation."""
    core = word.rstrip(_CLOSERS)
    if not core.endswith((".", "!", "?")):
        return False
    if not core.endswith("."):
        return True
    core = core.lstrip(_OPENERS).lower()
    if core in ABBREVIATIONS_AT_END:
        return next_word is not None and next_word.lstrip(_OPENERS)[:1].isupper()
    return not (core in ABBREVIATIONS or _LETTER_DOTS.fullmatch(core))


def count_sentences(text: str) -> int:
    """How many sentences text holds: 1 plus the sentence ends before its last word (a last sentence needs no
    period). Common abbreviations ("e.g.", "i.e.", "approx.", "U.S."), decimals and version numbers ("v1.2") are
    not sentence ends, so a one-sentence summary with "e.g." is one sentence; "It is down. Users are angry." is two.
    Never raises on text."""
    words = text.split()
    if not words:
        return 0
    return 1 + sum(_ends_sentence(w, words[i + 1]) for i, w in enumerate(words[:-1]))


# ----------------------------------------------------------------------------- metrics


def normalize_component(name: str | None) -> str:
    """Lower-case, with spaces, underscores and dots read as hyphens: 'Checkout API' == 'checkout-api'."""
    if not name:
        return ""
    return re.sub(r"[\s_.\-]+", "-", name.strip().lower()).strip("-`'\"")


def score_response(text: str, example: dict) -> dict:
    """Heuristic metrics of one answer against one gold example (1.0/0.0 each, plus length and reasons)."""
    parsed = parse_response(text)
    return {
        "format_ok": float(parsed.valid),
        "severity_match": float(parsed.severity == example["severity"]),
        "component_match": float(normalize_component(parsed.component) == normalize_component(example["component"])),
        "length_chars": len(text) if isinstance(text, str) else 0,
        "format_problems": parsed.reason,
    }


def score_responses(texts: list[str], examples: list[dict]):
    """Per-example metrics as a pandas DataFrame (one row per answer)."""
    import pandas as pd

    if len(texts) != len(examples):
        raise ValueError(f"{len(texts)} responses for {len(examples)} examples")
    rows = [{"id": ex["id"], **score_response(t, ex)} for t, ex in zip(texts, examples, strict=True)]
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- data


class DataError(ValueError):
    """A data file that does not follow the schema; the message names the file, row and reason."""


REQUIRED_FIELDS = {"id": str, "report": str, "severity": str, "component": str, "summary": str}


def unique_ids(items, where: str, hint: str = "every prompt must appear once") -> None:
    """Raise ValueError naming the first id that appears twice in `items` (dicts with "id", or ids): answers,
    logs, caches and tables are keyed by id, so a duplicate would silently overwrite or drop a prompt."""
    seen = set()
    for item in items:
        key = item["id"] if isinstance(item, dict) else item
        if key in seen:
            raise ValueError(f"{where}: duplicate example id {key!r}; {hint}")
        seen.add(key)


def validate_example(row: dict, where: str) -> dict:
    """Check one gold example; raise DataError naming `where` (file:line) and the reason."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for key, typ in REQUIRED_FIELDS.items():
        if key not in row:
            raise DataError(f"{where}: missing field {key!r}")
        if not isinstance(row[key], typ) or not row[key].strip():
            raise DataError(f"{where}: field {key!r} must be a non-empty string")
    if row["severity"] not in SEVERITIES:
        raise DataError(f"{where}: severity {row['severity']!r} is not one of {', '.join(SEVERITIES)}")
    if normalize_component(row["component"]) not in normalize_component(row["report"]):
        raise DataError(f"{where}: component {row['component']!r} is not named in the report")
    return row


DATAGEN_HINT = "regenerate the data with `python -m helpers.datagen`"


def read_jsonl(path: Path, validate=validate_example, hint: str = DATAGEN_HINT) -> list[dict]:
    """Read a JSONL file of examples. Every bad input is one DataError line naming the file (absolute path) and,
    for a bad line, its number and the reason: invalid JSON, a byte that is not UTF-8, a key given twice, a repeated
    id, a row that breaks the schema. A file with no rows at all is an error too, not an empty split. `hint` (what to
    do about a missing or empty file) ends those two messages."""
    hint = f"; {hint}" if hint else ""
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist{hint}")
    if not path.is_file():
        raise DataError(f"{path} is not a file")
    rows: list[dict] = []
    first_line_of: dict[str, int] = {}
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            where = f"{path}:{lineno}"
            row = _decode_line(raw, where, strip_bom=lineno == 1)
            if row is _BLANK:
                continue
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
        raise DataError(f"{where}: not valid JSON (column {err.colno}: {err.msg})") from None
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


def load_split(name: str, data_dir: Path | str | None = None) -> list[dict]:
    """The gold examples of one split: "sft" (SFT targets), "prefs" (prompts for preference pairs), "eval" (held-out,
    same scenario templates as training) or "unseen" (held-out incident types and phrasings; data/README.md)."""
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
    return read_jsonl(Path(data_dir or DATA_DIR) / f"{name}.jsonl")


def rubric_table():
    """The severity rubric as a DataFrame (for notebooks)."""
    import pandas as pd

    return pd.DataFrame({"severity": list(RUBRIC), "meaning": list(RUBRIC.values())}).set_index("severity")


def split_overview(splits: dict[str, list[dict]]):
    """Reports per split and severity, plus hard cases, as a DataFrame."""
    import pandas as pd

    rows = []
    for name, examples in splits.items():
        row = {"split": name, "reports": len(examples)}
        for sev in SEVERITIES:
            row[sev] = sum(e["severity"] == sev for e in examples)
        row["hard cases"] = sum(bool(e.get("hard_case")) for e in examples)
        rows.append(row)
    return pd.DataFrame(rows).set_index("split")
