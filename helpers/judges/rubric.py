"""The rubric judge: deterministic rules over the task's gold labels and the report text, no API, no cost.

The offline judge (the default without ANTHROPIC_API_KEY, and the yardstick the Claude judge is checked against),
readable on its own: the fact check behind faithfulness, the pairwise rules of `RubricJudge.compare`, and the
weights of the pointwise `RubricJudge.score` that a preference builder uses to rank N sampled answers per prompt.
"""

from __future__ import annotations

import re

from helpers.judges.common import Faithfulness, Score, Verdict
from helpers.progress import tqdm
from helpers.task import normalize_component, parse_response

# Facts a summary can state: numbers (incl. 1.5, 40%, each half of a 22:50 time), hyphenated names (services,
# regions) and capitalised names.
_FACT = re.compile(r"\d+(?:\.\d+)?|[a-z0-9]+(?:-[a-z0-9]+)+", re.I)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{2,}\b")
_COMMON_CAPS = {"The", "This", "Customers", "Users", "Support", "Status", "Data", "Production", "Internal", "All",
                "Checkout", "Nightly", "About", "Three", "Two", "Avatar", "Login", "Search", "Order", "Password",
                "Account", "Adding", "Saved", "Review", "Gift", "Typo", "Minor", "Small", "Other", "Employees", "Some",
                "Engineering", "Team", "Retry", "Retries", "Error", "Errors", "Service", "Services", "Staging", "Dev",
                "Critical", "Urgent", "Emergency", "Database", "There", "Requests", "Request", "It", "In", "On", "At",
                "An", "For", "No", "Its", "Since", "Every", "Card", "Payments", "Payment", "Health", "Flapping", "Disk"}

# The pointwise score of one answer is the sum of these parts:
#   score = 4 * [severity right] + 1.5 * [strictly valid format] + 1 * [component right]
#           + 1 * (faithfulness - 1) / 4                                   -> 0 .. 7.5
# Severity is the decision a triage answer exists for, so its weight (4) is larger than all the other parts
# together (1.5 + 1 + 1 = 3.5): an answer with the right severity always outranks one with the wrong severity,
# whatever its format (unlike RubricJudge.compare, whose rules check format first). Format comes next because an
# answer the parser rejects is unusable downstream; component and faithfulness count one point each.
SCORE_WEIGHTS = {"severity": 4.0, "format": 1.5, "component": 1.0, "faithfulness": 1.0}
SCORE_MAX = sum(SCORE_WEIGHTS.values())
# The parts from the heaviest down; equal weights keep the order of SCORE_WEIGHTS (component before faithfulness).
_PARTS_BY_WEIGHT = tuple(sorted(SCORE_WEIGHTS, key=lambda name: -SCORE_WEIGHTS[name]))
# What can decide RubricJudge.compare, in the order it tries them; its Verdict names the one in details["rule"].
COMPARE_RULES = ("format", "severity", "component", "faithfulness", "concision", "tie")


def unsupported_facts(text: str, report: str) -> list[str]:
    """Numbers, hyphenated names and capitalised names in `text` that do not appear in `report`."""
    report_l = report.lower()
    facts = [m.group(0) for m in _FACT.finditer(text)]
    facts += [m.group(0) for m in _NAME.finditer(text) if m.group(0) not in _COMMON_CAPS]
    return sorted({f for f in facts if f.lower() not in report_l and not f.upper().startswith("SEV")})


def rubric_faithfulness(example: dict, response: str) -> tuple[int, str]:
    """1-5: 5 when every fact in the summary (or in the whole answer, if no summary can be read) is in the report,
    one point less per unsupported fact; 1 for an empty answer."""
    parsed = parse_response(response)
    text = parsed.summary if parsed.summary else (response or "")
    if not text.strip():
        return 1, "empty answer: nothing to check"
    missing = unsupported_facts(text, example["report"])
    score = max(1, 5 - len(missing))
    where = "summary" if parsed.summary else "answer (no readable summary)"
    if not missing:
        return score, f"every number and name in the {where} appears in the report"
    return score, f"{len(missing)} fact(s) in the {where} not in the report: {', '.join(missing[:5])}"


def deciding_part(details_a: dict, details_b: dict) -> str:
    """Which part made answer a score higher than answer b (`Score.details` of RubricJudge.score): the part whose
    contribution favours a by the most ("severity", "format", "component", "faithfulness"), else "length" when
    only the lengths differ, else "none". Severity always decides when it differs (its 4 points outweigh the rest).
    """
    gains = {name: details_a["parts"][name] - details_b["parts"][name] for name in _PARTS_BY_WEIGHT}
    best = max(_PARTS_BY_WEIGHT, key=lambda name: gains[name])  # ties: the heavier part (max keeps the first)
    if gains[best] > 0:
        return best
    return "length" if details_a["length"] != details_b["length"] else "none"


def _num(x: float) -> str:
    return f"{x:g}"


class RubricJudge:
    """Deterministic judge from gold labels and the report.

    compare(): rules, in order, decide a comparison: format validity, severity correctness, component match,
    faithfulness, concision (>= 25% shorter). score(): one answer on its own, the weighted sum of SCORE_WEIGHTS.
    """

    name = "rubric"
    score_range = (0.0, SCORE_MAX)

    def _profile(self, example: dict, response: str) -> dict:
        parsed = parse_response(response)
        faith, _ = rubric_faithfulness(example, response)
        return {
            "format": parsed.valid,
            "severity": parsed.severity == example["severity"],
            "component": normalize_component(parsed.component) == normalize_component(example["component"]),
            "faithfulness": faith,
            "length": len(response or ""),
            "parsed": parsed,
        }

    def compare(self, example: dict, response_a: str, response_b: str) -> Verdict:
        pa, pb = self._profile(example, response_a), self._profile(example, response_b)
        gold = example["severity"]
        rules = [
            ("format", lambda p: p["format"], lambda p: "valid JSON answer" if p["format"] else p["parsed"].reason),
            ("severity", lambda p: p["severity"], lambda p: f"severity {p['parsed'].severity} (gold {gold})"),
            ("component", lambda p: p["component"],
             lambda p: f"component {p['parsed'].component!r} (gold {example['component']!r})"),
            ("faithfulness", lambda p: p["faithfulness"], lambda p: f"faithfulness {p['faithfulness']}/5"),
        ]
        for rule, key, describe in rules:
            ka, kb = key(pa), key(pb)
            if ka != kb:
                winner = "a" if ka > kb else "b"
                return Verdict(winner, f"{rule} decided: a has {describe(pa)}; b has {describe(pb)}", self.name,
                               details={"rule": rule})
        la, lb = pa["length"], pb["length"]
        if min(la, lb) <= 0.75 * max(la, lb):
            winner = "a" if la < lb else "b"
            return Verdict(winner, f"concision decided: a is {la} characters, b is {lb}", self.name,
                           details={"rule": "concision"})
        return Verdict("tie", "no rule separates the answers", self.name, details={"rule": "tie"})

    def score(self, example: dict, response: str) -> Score:
        """One answer on its own: the weighted sum of SCORE_WEIGHTS (0 .. 7.5), each part named in the rationale."""
        p = self._profile(example, response)
        w = SCORE_WEIGHTS
        parts = {
            "severity": w["severity"] * p["severity"],
            "format": w["format"] * p["format"],
            "component": w["component"] * p["component"],
            "faithfulness": w["faithfulness"] * (p["faithfulness"] - 1) / 4,
        }
        parsed = p["parsed"]
        sev = parsed.severity or "missing"
        words = [
            f"severity {sev} right (+{_num(parts['severity'])})" if p["severity"]
            else f"severity {sev} wrong (gold {example['severity']})",
            f"valid format (+{_num(parts['format'])})" if p["format"] else f"invalid format ({parsed.reason})",
            f"component right (+{_num(parts['component'])})" if p["component"]
            else f"component wrong ({parsed.component!r}, gold {example['component']!r})",
            f"faithfulness {p['faithfulness']}/5 (+{_num(parts['faithfulness'])})",
        ]
        total = sum(parts.values())
        details = {"severity": p["severity"], "format": p["format"], "component": p["component"],
                   "faithfulness": p["faithfulness"], "length": p["length"], "parts": parts}
        return Score(total, f"{_num(total)}/{_num(SCORE_MAX)}: " + ", ".join(words), self.name, details=details)

    def faithfulness(self, example: dict, response: str) -> Faithfulness:
        score, why = rubric_faithfulness(example, response)
        return Faithfulness(score, why, self.name)

    def compare_many(self, items: list[tuple[dict, str, str]], progress: bool = True) -> list[Verdict]:
        return [self.compare(*item) for item in tqdm(items, desc="judging (rubric)", disable=not progress)]

    def score_many(self, items: list[tuple[dict, str]], progress: bool = True) -> list[Score]:
        return [self.score(*item) for item in tqdm(items, desc="scoring (rubric)", disable=not progress)]

    def faithfulness_many(self, items: list[tuple[dict, str]], progress: bool = True) -> list[Faithfulness]:
        return [self.faithfulness(*item) for item in tqdm(items, desc="faithfulness (rubric)", disable=not progress)]
