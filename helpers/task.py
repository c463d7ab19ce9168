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

from helpers import jsonl
from helpers.jsonl import DataError, iter_jsonl  # noqa: F401 (re-exported: helpers.task.iter_jsonl)
from helpers.paths import DATA_DIR

SPLITS = ("sft", "prefs", "eval", "unseen", "dev_unseen")
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


REQUIRED_FIELDS = {"id": str, "report": str, "severity": str, "component": str, "summary": str}
# optional fields, checked when present: a string "false" is truthy, so a wrong type would silently change
# which examples count as hard cases
OPTIONAL_FIELDS = {"hard_case": bool, "held_out": bool, "scenario": str, "template": str}
_JSON_TYPE = {bool: "a JSON boolean (true or false)", str: "a string"}


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
    for key, typ in OPTIONAL_FIELDS.items():
        if key in row and not isinstance(row[key], typ):
            raise DataError(f"{where}: field {key!r} must be {_JSON_TYPE[typ]}, got {str(repr(row[key]))[:40]} "
                            f"({type(row[key]).__name__})")
    if row["severity"] not in SEVERITIES:
        raise DataError(f"{where}: severity {row['severity']!r} is not one of {', '.join(SEVERITIES)}")
    if normalize_component(row["component"]) not in normalize_component(row["report"]):
        raise DataError(f"{where}: component {row['component']!r} is not named in the report")
    return row


DATAGEN_HINT = "regenerate the data with `python -m helpers.datagen`"


def read_jsonl(path: Path, validate=validate_example, hint: str = DATAGEN_HINT) -> list[dict]:
    """The rows of a JSONL file of gold examples, read strictly by `jsonl.read_jsonl` (one DataError line naming
    file:line and the reason for any bad input, a missing or empty file included), each checked by `validate`."""
    return jsonl.read_jsonl(path, validate, hint)


def load_split(name: str, data_dir: Path | str | None = None) -> list[dict]:
    """The gold examples of one split: "sft" (SFT targets), "prefs" (prompts for preference pairs), "eval" (held-out,
    same scenario templates as training), "unseen" (held-out incident types and phrasings, the test split) or
    "dev_unseen" (a second such group, disjoint from unseen, for choosing recipes and settings; data/README.md)."""
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
