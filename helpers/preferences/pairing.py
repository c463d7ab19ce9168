"""Choosing (prompt, chosen, rejected) pairs from the sampling log: one function per strategy, behind `select_pairs`.

Pure functions over the log, so re-pairing with other thresholds costs no generation and no judge call. Every prompt
gets a pair record, kept or dropped with the reason, for the data-quality report; a judge result in the log that is
not a clean verdict or a real number drops the prompt as "judge_failed", never makes a pair.
"""

from __future__ import annotations

import difflib
import random
import re
from collections import Counter

from helpers import checks
from helpers.judges import deciding_part
from helpers.judges.common import VERDICTS, value_problem
from helpers.preferences.report import pair_severities
from helpers.task import build_messages, parse_response, unique_ids

STRATEGIES = ("two_temperatures", "best_vs_worst", "best_vs_each_severity", "severity_contrast")


def _normal(text: str) -> str:
    return re.sub(r"[\W_]+", " ", (text or "").lower()).strip()


def similarity(a: str, b: str) -> float:
    """Character similarity of two answers after lower-casing and dropping punctuation (1.0 = the same words)."""
    return difflib.SequenceMatcher(None, _normal(a), _normal(b), autojunk=False).ratio()


def _pair(record: dict, chosen: dict, rejected: dict, decided_by: str, gap: float | None) -> dict:
    return {"id": record["id"], "severity": record["severity"], "hard_case": record.get("hard_case", False),
            "status": "kept", "decided_by": decided_by, "score_gap": gap,
            "prompt": None, "chosen": [{"role": "assistant", "content": chosen["text"]}],
            "rejected": [{"role": "assistant", "content": rejected["text"]}],
            "temperature_chosen": chosen["temperature"], "temperature_rejected": rejected["temperature"],
            "score_chosen": chosen.get("score"), "score_rejected": rejected.get("score")}


def _dropped(record: dict, status: str, decided_by: str = "", gap: float | None = None,
             error: str | None = None) -> dict:
    out = {"id": record["id"], "severity": record["severity"], "hard_case": record.get("hard_case", False),
           "status": status, "decided_by": decided_by, "score_gap": gap}
    if error:
        out["error"] = error
    return out


def _judge(record: dict) -> str:
    return str(record.get("judge") or "?")


def _sample_problem(sample: dict, judge: str) -> str | None:
    """Why a logged sample's score cannot be used (None when it can, or when it is a recorded failure)."""
    if sample.get("failed") is True:
        return None if sample.get("score") is None else f"judge {judge} logged failed=True with score " \
                                                         f"{sample['score']!r}"
    if sample.get("failed") is not False:
        return f"judge {judge} logged failed={sample.get('failed')!r}, not True or False"
    problem = value_problem(sample.get("score"))
    return None if problem is None else f"judge {judge} logged {problem}"


def _course_problem(course: dict, judge: str) -> str | None:
    """Why a logged course verdict cannot be used (None when it is a clean a/b/tie)."""
    if course.get("failed") is not False:
        return f"judge {judge} logged failed={course.get('failed')!r}, not True or False"
    winner = course.get("winner")
    if not isinstance(winner, str) or winner not in VERDICTS:
        return f"judge {judge} logged winner {winner!r}, not 'a', 'b' or 'tie'"
    return None


def _decided_by_scores(best: dict, worst: dict) -> str:
    if best.get("details") and "severity" in best["details"] and "severity" in (worst.get("details") or {}):
        return deciding_part(best["details"], worst["details"])  # the rubric judge: the part that differs
    return "score gap"


def _ranked(record: dict, rng: random.Random) -> list[dict] | dict:
    """The prompt's scored answers, worst first (equal scores in a random order, not always the first temperature),
    or its "judge_failed" record when a logged score is unusable or fewer than two answers were scored."""
    problems = [p for s in record["samples"] if (p := _sample_problem(s, _judge(record)))]
    if problems:  # a score the judge never really gave: the prompt is a failure, not a ranking of the rest
        return _dropped(record, "judge_failed", error=problems[0] + ": recorded as a failure")
    samples = [s for s in record["samples"] if not s["failed"]]
    if record.get("status") == "judge_failed" or len(samples) < 2:
        errors = [s.get("error") for s in record["samples"] if s.get("error")]
        return _dropped(record, "judge_failed", error=errors[0] if errors else None)
    order = list(range(len(samples)))
    rng.shuffle(order)
    return [samples[i] for i in sorted(order, key=lambda i: samples[i]["score"])]


def best_vs_worst(record: dict, rng: random.Random, min_gap: float, near_identical: float) -> dict:
    """Chosen = the best-scored answer, rejected = the worst. A gap below `min_gap` or near-identical texts drop
    the prompt: such pairs teach little and pull both answers' likelihood down together."""
    ranked = _ranked(record, rng)
    return ranked if isinstance(ranked, dict) else _best_vs_worst(record, ranked, min_gap, near_identical)


def _best_vs_worst(record: dict, ranked: list[dict], min_gap: float, near_identical: float) -> dict:
    worst, best = ranked[0], ranked[-1]
    gap = float(best["score"] - worst["score"])
    if gap == 0:
        return _dropped(record, "tie", "tie", gap)
    if gap < min_gap:
        return _dropped(record, "small_gap", _decided_by_scores(best, worst), gap)
    if best["text"].strip() == worst["text"].strip() or similarity(best["text"], worst["text"]) >= near_identical:
        return _dropped(record, "near_identical", _decided_by_scores(best, worst), gap)
    return _pair(record, best, worst, _decided_by_scores(best, worst), gap)


def best_vs_each_severity(record: dict, rng: random.Random, min_gap: float, near_identical: float) -> list[dict]:
    """Chosen = the best answer; one pair per other severity among the answers at least `min_gap` below it, so
    every severity mistake on the prompt is rejected once. Without such an answer: the best_vs_worst record."""
    ranked = _ranked(record, rng)
    if isinstance(ranked, dict):
        return [ranked]
    return (_each_severity(record, ranked, min_gap, near_identical)
            or [_best_vs_worst(record, ranked, min_gap, near_identical)])


def _each_severity(record: dict, ranked: list[dict], min_gap: float, near_identical: float) -> list[dict]:
    """best_vs_each_severity's pairs (worst first), each rejecting the worst well-formed answer of its severity (a
    malformed one only when no worse answer is well-formed: greedy decoding's mistakes are well-formed); [] when
    there is none to make."""
    best = ranked[-1]
    worst_of: dict[str | None, dict] = {}
    for s in ranked:  # ascending score: the first answer seen for a severity is its worst
        if best["score"] - s["score"] >= max(min_gap, 1e-9) and s["text"].strip() != best["text"].strip() \
                and similarity(s["text"], best["text"]) < near_identical:
            parsed = parse_response(s["text"])
            worst_of.setdefault(parsed.severity if parsed.valid else "malformed", s)
    if len(worst_of) > 1:
        worst_of.pop("malformed", None)
    if len(worst_of) > 1:
        worst_of.pop(parse_response(best["text"]).severity, None)
    return [_pair(record, best, s, _decided_by_scores(best, s), float(best["score"] - s["score"]))
            for s in worst_of.values()]


_SEVERITY_FIELD = re.compile(r'("severity"\s*:\s*")(SEV[1-4])(")')


def with_severity(text: str, severity: str) -> str | None:
    """`text` with the value of its (first) "severity" field replaced by `severity`; None when it has none."""
    edited, n = _SEVERITY_FIELD.subn(lambda m: m.group(1) + severity + m.group(3), text, count=1)
    return edited if n else None


def severity_contrast(record: dict, rng: random.Random, min_gap: float, near_identical: float) -> dict:
    """Chosen = the best answer when its severity is right; rejected = the same text with the severity the model
    most often wrote instead, so the pair differs in the severity alone and DPO's margin cannot grow on the wording.
    Without such a mistake: the best_vs_worst record."""
    ranked = _ranked(record, rng)
    if isinstance(ranked, dict):
        return ranked
    return _severity_contrast(record, ranked, min_gap) or _best_vs_worst(record, ranked, min_gap, near_identical)


def _severity_contrast(record: dict, ranked: list[dict], min_gap: float) -> dict | None:
    """The contrast pair, the likeliest mistake counted among well-formed answers scored at least `min_gap` lower
    (and not judged right on severity); None when there is none, or the best answer's severity is not right or
    not editable. The near-identical filter does not apply: the texts differ by one character on purpose."""
    best = ranked[-1]
    best_parsed = parse_response(best["text"])
    if not best_parsed.valid or (best.get("details") or {}).get("severity") is False:
        return None
    wrong: Counter = Counter()
    worst_score: dict[str, float] = {}
    for s in ranked:  # ascending score
        parsed = parse_response(s["text"])
        if (best["score"] - s["score"] < max(min_gap, 1e-9) or not parsed.valid or parsed.severity is None
                or parsed.severity == best_parsed.severity or (s.get("details") or {}).get("severity") is True):
            continue
        wrong[parsed.severity] += 1
        worst_score.setdefault(parsed.severity, s["score"])
    if not wrong:
        return None
    severity = max(wrong, key=lambda sev: (wrong[sev], -worst_score[sev]))  # the likeliest mistake
    edited = with_severity(best["text"], severity)
    if edited is None:
        return None
    rejected = {"text": edited, "temperature": None, "score": None}
    pair = _pair(record, best, rejected, "severity", float(best["score"] - worst_score[severity]))
    pair["rejected_edit"] = f"{best_parsed.severity} -> {severity} ({wrong[severity]} of {len(ranked)} answers)"
    return pair


def two_temperatures(record: dict) -> dict:
    """The course's recipe: of the answers at temperatures 0.7 and 1.2, the one the judge picked is chosen; ties
    and identical answers are dropped."""
    course = record.get("course")
    if course is None:
        raise ValueError(f"record {record['id']}: no course comparison; the temperatures must include 0.7 and 1.2")
    if course.get("failed") is True:
        return _dropped(record, "judge_failed", error=course.get("error"))
    problem = _course_problem(course, _judge(record))
    if problem is not None:  # e.g. winner "A", or None without failed: a failure, never a win for b
        return _dropped(record, "judge_failed", error=problem + ": recorded as a failure")
    i_low, i_high = record["course_indices"]
    low, high = record["samples"][i_low], record["samples"][i_high]
    if low["text"].strip() == high["text"].strip():
        return _dropped(record, "identical")
    decided_by = (course.get("details") or {}).get("rule", "judge")
    if course["winner"] == "tie":
        return _dropped(record, "tie", decided_by)
    a_is_low = course["low_first"]
    low_won = (course["winner"] == "a") == a_is_low
    chosen, rejected = (low, high) if low_won else (high, low)
    gap = (chosen["score"] - rejected["score"]) if None not in (chosen.get("score"), rejected.get("score")) else None
    return _pair(record, chosen, rejected, decided_by, gap)


def available_strategies(records: list[dict]) -> list[str]:
    """The strategies these samples support: "two_temperatures" needs answers at 0.7 and 1.2 in every record."""
    return [s for s in STRATEGIES if s != "two_temperatures" or all("course" in r for r in records)]


def _prompt_pairs(record: dict, strategy: str, rng: random.Random, min_gap: float,
                  near_identical: float) -> list[dict]:
    """One prompt's pair records under `strategy`."""
    if strategy == "two_temperatures":
        return [two_temperatures(record)]
    if strategy == "best_vs_each_severity":
        return best_vs_each_severity(record, rng, min_gap, near_identical)
    rule = best_vs_worst if strategy == "best_vs_worst" else severity_contrast
    return [rule(record, rng, min_gap, near_identical)]


def select_pairs(records: list[dict], reports: dict[str, str], strategy: str = "best_vs_worst",
                 min_gap: float = 1.0, near_identical: float = 0.98, seed: int = 0) -> list[dict]:
    """One pair record per prompt for `strategy` (best_vs_each_severity: one per rejected severity): status "kept"
    (with the TRL triple, who decided it and the score gap) or why it was dropped ("tie", "small_gap",
    "near_identical", "identical", "judge_failed").
    `reports` maps example id -> report text (the prompt is rebuilt from it). A duplicate id among `records`, or
    a record with no report, is a ValueError naming the id."""
    checks.all_of(lambda: checks.choice("pair_strategy", strategy, STRATEGIES),
                  lambda: checks.number("min_score_gap", min_gap, minimum=0),
                  lambda: checks.fraction("near_identical", near_identical, high_open=False))
    unique_ids(records, "select_pairs", "every prompt must appear once (prefs.latest_records keeps the last "
               "record of each)")
    rng = random.Random(seed)
    out = []
    for record in records:
        for pair in _prompt_pairs(record, strategy, rng, min_gap, near_identical):
            if pair["status"] == "kept":
                if record["id"] not in reports:
                    raise ValueError(f"select_pairs: no report for example id {record['id']!r} in `reports`")
                pair["prompt"] = build_messages(reports[record["id"]])
            out.append(pair)
    return out


def balance_severities(pairs: list[dict], seed: int = 0) -> list[dict]:
    """The kept pairs thinned so that every severity is chosen exactly as often as it is rejected: DPO can then
    lower its loss only by reading the report, not by favouring a severity everywhere.

    For every two severities a and b, as many "a over b" pairs are kept as "b over a" (a seeded random choice among
    the more numerous). Pairs with one severity on both sides are kept; pairs with an unreadable severity are
    dropped. Dropped pairs stay in the list with status "unbalanced"."""
    rng = random.Random(seed)
    edges: dict[tuple, list[int]] = {}
    for i, p in enumerate(pairs):
        if p.get("status") == "kept":
            edges.setdefault(pair_severities(p), []).append(i)
    keep: set[int] = set()
    for (a, b), idx in edges.items():
        if a is None or b is None:
            continue
        if a == b:
            keep.update(idx)
        elif (a, b) < (b, a):
            mirror = edges.get((b, a), [])
            n = min(len(idx), len(mirror))
            keep.update(rng.sample(idx, n))
            keep.update(rng.sample(mirror, n))
    out = []
    for i, p in enumerate(pairs):
        if p.get("status") == "kept" and i not in keep:
            p = {k: p[k] for k in ("id", "severity", "hard_case", "decided_by", "score_gap")} | {"status": "unbalanced"}
        out.append(p)
    return out
