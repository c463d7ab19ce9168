"""What the Claude judge asks: the system prompt, the JSON schemas of its structured replies, and the Messages API
request for each kind of judgement (a comparison, a faithfulness score, a pointwise score).

A request is a plain dict of Messages API parameters; the judge's cache key is built from it, so any change to
the text below must come with a new JUDGE_PROMPT_VERSION.
"""

from __future__ import annotations

from helpers.task import RUBRIC

JUDGE_PROMPT_VERSION = "v1"
MAX_RESPONSE_CHARS = 2000

_RUBRIC_TEXT = "\n".join(f"- {k}: {v}" for k, v in RUBRIC.items())
JUDGE_SYSTEM = (
    "You are a senior site-reliability engineer grading answers to an incident-triage task. The model under test "
    "reads an incident report and must answer with exactly one JSON object: "
    '{"severity": "SEV1|SEV2|SEV3|SEV4", "component": "<service named in the report>", '
    '"summary": "<one sentence with only facts from the report>"}.\nSeverity rubric:\n' + _RUBRIC_TEXT + "\n"
    "Judge, in order of importance: a valid JSON answer in the required shape; the right severity; the right "
    "component; a summary that states only facts found in the report; concision. Be strict and impartial: the "
    "order in which answers are shown and their length must not sway you."
)
COMPARE_SCHEMA = {
    "type": "object",
    "properties": {"rationale": {"type": "string"}, "winner": {"type": "string", "enum": ["A", "B", "tie"]}},
    "required": ["rationale", "winner"], "additionalProperties": False,
}
FAITH_SCHEMA = {
    "type": "object",
    "properties": {"rationale": {"type": "string"}, "score": {"type": "integer", "enum": [1, 2, 3, 4, 5]}},
    "required": ["rationale", "score"], "additionalProperties": False,
}
# An enum, not minimum/maximum: structured outputs reject numeric bounds on integers.
SCORE_SCHEMA = {
    "type": "object",
    "properties": {"rationale": {"type": "string"}, "score": {"type": "integer", "enum": list(range(1, 11))}},
    "required": ["rationale", "score"], "additionalProperties": False,
}


def _clip(text: str) -> str:
    text = text or ""
    return text if len(text) <= MAX_RESPONSE_CHARS else text[:MAX_RESPONSE_CHARS] + " [... truncated]"


def _reference(example: dict, use_reference: bool) -> str:
    if not use_reference:
        return ""
    return (f"\nReference labels (from the dataset): severity {example['severity']}, "
            f"component {example['component']}.")


def request(model: str, max_tokens: int, user: str, schema: dict) -> dict:
    """Messages API parameters: the judge's system prompt, one user message, a reply constrained to `schema`."""
    return {"model": model, "max_tokens": max_tokens, "system": JUDGE_SYSTEM,
            "messages": [{"role": "user", "content": user}],
            "output_config": {"format": {"type": "json_schema", "schema": schema}}}


def compare_request(model: str, max_tokens: int, example: dict, first: str, second: str,
                    use_reference: bool) -> dict:
    """Which of two answers is better, `first` shown as answer A."""
    user = (f"Incident report:\n{example['report']}{_reference(example, use_reference)}\n\n"
            f"Answer A:\n{_clip(first)}\n\nAnswer B:\n{_clip(second)}\n\n"
            "Which answer is better? Reply with JSON: a one-sentence rationale, then winner \"A\", \"B\" or "
            "\"tie\".")
    return request(model, max_tokens, user, COMPARE_SCHEMA)


def faithfulness_request(model: str, max_tokens: int, example: dict, response: str) -> dict:
    """How faithful one answer is to the report, 1-5 (never shown the reference labels)."""
    user = (f"Incident report:\n{example['report']}\n\nAnswer:\n{_clip(response)}\n\n"
            "Rate the answer's faithfulness to the report from 1 to 5: 5 = every fact it states is in the "
            "report; 1 = mostly invented or no usable content. Reply with JSON: a one-sentence rationale, "
            "then score.")
    return request(model, max_tokens, user, FAITH_SCHEMA)


def score_request(model: str, max_tokens: int, example: dict, response: str, use_reference: bool) -> dict:
    """One answer on its own, 1-10 against the rubric, severity first."""
    user = (f"Incident report:\n{example['report']}{_reference(example, use_reference)}\n\n"
            f"Answer:\n{_clip(response)}\n\n"
            "Score the answer from 1 to 10 against the rubric: 10 = a valid JSON answer in the required shape "
            "with the right severity, the right component and a concise one-sentence summary that states only "
            "facts from the report; 1 = no usable answer. For this score the severity matters most: an answer "
            "with the right severity scores above any answer with a wrong one (6 or more vs 5 or less), "
            "however well formatted. Reply with JSON: a one-sentence rationale, then score (an integer).")
    return request(model, max_tokens, user, SCORE_SCHEMA)
