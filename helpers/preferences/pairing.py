"""Choosing (prompt, chosen, rejected) pairs from scored samples: the pair-construction strategies.

- "two_temperatures": the course's recipe. The answers at temperature 0.7 and 1.2; the judge picks one in a
  pairwise comparison. Ties and identical answers are dropped.
- "best_vs_worst": N answers each scored on its own; chosen = the best score, rejected = the worst (the
  RLHF-Workflow recipe; UltraFeedback-binarized pairs the best with a random other). Pairs whose score gap is below
  `min_gap` or whose texts are near-identical are dropped: they teach little and pull both answers' likelihood down
  together (likelihood displacement).
- "best_vs_each_severity": chosen = the best score; one pair for each *other* severity among the answers at least
  `min_gap` below it, rejected = the worst well-formed answer with that severity (a malformed one only when no
  worse answer is well-formed: greedy decoding writes well-formed answers, so those are the mistakes to fix, not
  the word salad a sample at temperature 1.2 sometimes is). Every severity mistake the model made on the prompt is
  rejected once, so a prompt can give up to N - 1 pairs; all of a prompt's pairs go to the same train or
  validation split.
- "severity_contrast": chosen = the best answer when its severity is right; rejected = the same text with the
  severity the model most often wrote instead on this prompt (among well-formed answers at least `min_gap` lower),
  so the pair differs in the severity digit alone and DPO's margin cannot grow on the wording. The near-identical
  filter does not apply to it (the texts differ by one character on purpose). Without such a mistake, the prompt
  is paired as best_vs_worst pairs it. Measured on issue #15's data: the digit carried 64% of the reward margin
  instead of 21%, and with 2 epochs at lr 3e-4 severity rose 0.60 -> 0.76 on 140 held-out reports (p < 0.001).

`balance_severities` thins any strategy's pairs until every severity is chosen as often as it is rejected.

Every prompt gets a pair record (best_vs_each_severity: one per pair), kept or dropped with the reason, so the
data-quality report can count them.
Pure functions over the sampling log: re-pairing with other thresholds costs no generation and no judge call.

The judge's output in the log is checked again here, by the rules of `helpers.judges.checked_verdicts` and
`checked_scores` (the log does not carry the judge's scale, so a number is only checked to be a real, finite one):
a verdict other than a clean "a"/"b"/"tie", or a score that is not a number, drops the prompt as "judge_failed"
(its error kept), never a pair. `to_dataset` refuses too few kept pairs with the reason, counted
from the dropped records: every judge call failed, everything tied, or no prompts.
"""

from __future__ import annotations

import difflib
import json
import random
import re
from collections import Counter
from pathlib import Path

from helpers.judges.common import VERDICTS, value_problem
from helpers.preferences.report import pair_severities
from helpers.task import build_messages, parse_response, unique_ids

STRATEGIES = ("two_temperatures", "best_vs_worst", "best_vs_each_severity", "severity_contrast")
TRIPLE_KEYS = ("prompt", "chosen", "rejected")


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
    from helpers.judges import deciding_part

    if best.get("details") and "severity" in best["details"] and "severity" in (worst.get("details") or {}):
        return deciding_part(best["details"], worst["details"])  # the rubric judge: the part that differs
    return "score gap"


def best_vs_worst(record: dict, min_gap: float, near_identical: float, rng: random.Random,
                  strategy: str = "best_vs_worst") -> dict | list[dict]:
    problems = [p for s in record["samples"] if (p := _sample_problem(s, _judge(record)))]
    if problems:  # a score the judge never really gave: the prompt is a failure, not a ranking of the rest
        return _dropped(record, "judge_failed", error=problems[0] + ": recorded as a failure")
    samples = [s for s in record["samples"] if not s["failed"]]
    if record.get("status") == "judge_failed" or len(samples) < 2:
        errors = [s.get("error") for s in record["samples"] if s.get("error")]
        return _dropped(record, "judge_failed", error=errors[0] if errors else None)
    order = list(range(len(samples)))
    rng.shuffle(order)  # equal scores: a random one, not always the first temperature
    ranked = sorted(order, key=lambda i: samples[i]["score"])
    worst, best = samples[ranked[0]], samples[ranked[-1]]
    if strategy == "best_vs_each_severity" and (pairs := _each_severity(record, samples, ranked, best, min_gap,
                                                                       near_identical)):
        return pairs
    if strategy == "severity_contrast" and (pair := _severity_contrast(record, samples, ranked, best, min_gap)):
        return pair
    gap = float(best["score"] - worst["score"])
    if gap == 0:
        return _dropped(record, "tie", "tie", gap)
    if gap < min_gap:
        return _dropped(record, "small_gap", _decided_by_scores(best, worst), gap)
    if best["text"].strip() == worst["text"].strip() or similarity(best["text"], worst["text"]) >= near_identical:
        return _dropped(record, "near_identical", _decided_by_scores(best, worst), gap)
    return _pair(record, best, worst, _decided_by_scores(best, worst), gap)


def _each_severity(record: dict, samples: list[dict], ranked: list[int], best: dict, min_gap: float,
                   near_identical: float) -> list[dict]:
    """best_vs_each_severity's pairs (worst first within a severity); [] when there is none to make."""
    worst_of: dict[str | None, dict] = {}
    for i in ranked:  # ascending score: the first answer seen for a severity is its worst
        s = samples[i]
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


def _severity_contrast(record: dict, samples: list[dict], ranked: list[int], best: dict,
                       min_gap: float) -> dict | None:
    """severity_contrast's pair: the best answer against itself with the severity the model most often gave
    instead (among well-formed answers scored at least `min_gap` lower and, where the judge says so, with the
    severity wrong); None when there is no such answer or the best one's severity is not right or not editable."""
    best_parsed = parse_response(best["text"])
    if not best_parsed.valid or (best.get("details") or {}).get("severity") is False:
        return None
    wrong: Counter = Counter()
    worst_score: dict[str, float] = {}
    for i in ranked:  # ascending score
        s = samples[i]
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
    pair["rejected_edit"] = f"{best_parsed.severity} -> {severity} ({wrong[severity]} of {len(samples)} answers)"
    return pair


def two_temperatures(record: dict) -> dict:
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


def select_pairs(records: list[dict], reports: dict[str, str], strategy: str = "best_vs_worst",
                 min_gap: float = 1.0, near_identical: float = 0.98, seed: int = 0) -> list[dict]:
    """One pair record per prompt for `strategy` (best_vs_each_severity: one per rejected severity): status "kept"
    (with the TRL triple, who decided it and the score gap) or why it was dropped ("tie", "small_gap",
    "near_identical", "identical", "judge_failed").
    `reports` maps example id -> report text (the prompt is rebuilt from it). A duplicate id among `records`, or
    a record with no report, is a ValueError naming the id."""
    if strategy not in STRATEGIES:
        raise ValueError(f"pair_strategy={strategy!r}: choose one of {', '.join(STRATEGIES)}")
    if min_gap < 0:
        raise ValueError(f"min_score_gap={min_gap!r} must be >= 0")
    if not 0 < near_identical <= 1:
        raise ValueError(f"near_identical={near_identical!r} must be in (0, 1]")
    unique_ids(records, "select_pairs", "every prompt must appear once (prefs.latest_records keeps the last "
               "record of each)")
    rng = random.Random(seed)
    out = []
    for record in records:
        made = (two_temperatures(record) if strategy == "two_temperatures"
                else best_vs_worst(record, min_gap, near_identical, rng, strategy))
        for pair in made if isinstance(made, list) else [made]:
            if pair["status"] == "kept":
                if record["id"] not in reports:
                    raise ValueError(f"select_pairs: no report for example id {record['id']!r} in `reports`")
                pair["prompt"] = build_messages(reports[record["id"]])
            out.append(pair)
    return out


def balance_severities(pairs: list[dict], seed: int = 0) -> list[dict]:
    """The kept pairs thinned so that every severity is chosen exactly as often as it is rejected.

    DPO can lower its loss in two ways: by reading the report (SEV2 here, SEV3 there) or by simply answering the
    severities that are chosen more often than rejected, everywhere. Measured on issue #15's data: with SEV4
    pushed down by 32 pairs, the DPO model found SEV4 on 6 of 30 unseen SEV4 reports instead of 24. Balancing
    removed that push (`report.severity_push`) but not a drift toward SEV2, and did not make the severity gain
    significant (Session B's table); it is an option, off by default.

    For every two severities a and b, as many "a over b" pairs are kept as there are "b over a" pairs (a seeded
    random choice among the more numerous), so each pair's lesson is cancelled by its mirror image on a report of
    the other severity unless the model reads the report. Pairs with the same severity on both sides (decided by
    component, format or the summary) push no severity and are kept; a pair whose chosen or rejected answer has
    no readable severity is dropped. Dropped pairs stay in the list with status "unbalanced"."""
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


def triples(pairs: list[dict]) -> list[dict]:
    """Only the kept pairs, as {"prompt", "chosen", "rejected"} rows."""
    return [{k: p[k] for k in TRIPLE_KEYS} for p in pairs if p.get("status") == "kept"]


DROP_REASONS = {"judge_failed": "the judge call failed", "tie": "tied", "identical": "identical answers (a tie)",
                "small_gap": "score gap below min_score_gap", "near_identical": "near-identical answers",
                "unbalanced": "dropped to balance the severities"}


def why_too_few(pairs: list[dict]) -> str:
    """Why these pair records keep no (or few) pairs, one line, from the statuses of the dropped ones: no prompts;
    every judge call failed (the key or the network); every pair tied; or the count of each reason."""
    dropped = Counter(p.get("status") for p in pairs if p.get("status") != "kept")
    n = len(pairs)
    if n == 0:
        return "there were no prompts (check n_pref_prompts and the prefs split)"
    failed = dropped.get("judge_failed", 0)
    if failed == n:
        error = next((p["error"] for p in pairs if p.get("error")), None)
        return (f"every judge call failed ({failed} of {n} prompts)" + (f", e.g. {error}" if error else "")
                + ": check ANTHROPIC_API_KEY and the network, then re-run (failed calls are retried)")
    ties = dropped.get("tie", 0) + dropped.get("identical", 0)
    if ties == n:
        return (f"every pair tied ({ties} of {n} prompts): the answers do not differ enough for the judge; "
                "sample at more temperatures or use best_vs_worst")
    if not dropped:
        return f"all {n} prompts gave a pair, and that is too few: use more prompts (n_pref_prompts)"
    counts = ", ".join(f"{count} {DROP_REASONS.get(status, status)}" for status, count in dropped.most_common())
    hint = ("; most judge calls failed: check ANTHROPIC_API_KEY and the network, then re-run" if failed > n / 2
            else "; see the data-quality report, or lower min_score_gap")
    return f"dropped: {counts}{hint}"


def to_dataset(pairs: list[dict], val_fraction: float = 0.1, seed: int = 0, min_pairs: int = 1):
    """Validated triples as a DatasetDict with a held-out "validation" split (split by example, seeded). Fewer than
    `min_pairs` kept pairs is a PreferenceDataError that says why (`why_too_few`)."""
    from datasets import Dataset, DatasetDict

    from helpers.preferences.validation import PreferenceDataError, validate_preferences

    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction={val_fraction!r} must be in [0, 1)")
    kept = [p for p in pairs if p.get("status") == "kept"]
    if len(kept) < max(1, min_pairs):
        what = "no usable preference pairs" if not kept else f"only {len(kept)} usable preference pairs"
        need = f" (min_pairs={min_pairs})" if min_pairs > 1 else ""
        raise PreferenceDataError(f"{what} among {len(pairs)} prompts{need}: nothing to train on; "
                                  f"{why_too_few(pairs)}")
    rows = triples(kept)
    validate_preferences(rows)
    ids = sorted({p["id"] for p in kept})  # by prompt: a prompt's pairs all go to one side
    random.Random(seed).shuffle(ids)
    n_val = int(round(len(ids) * val_fraction)) if len(ids) > 1 else 0
    val_ids = set(ids[:n_val])
    train = [row for row, p in zip(rows, kept, strict=True) if p["id"] not in val_ids]
    val = [row for row, p in zip(rows, kept, strict=True) if p["id"] in val_ids]
    features = _features()

    def split(rows: list[dict]):  # from_list([]) loses the columns ("Keys mismatch ... {} (target)")
        return Dataset.from_dict({k: [row[k] for row in rows] for k in TRIPLE_KEYS}, features=features)

    return DatasetDict({"train": split(train), "validation": split(val)})


def _features():
    from datasets import Features, List, Value

    msgs = List({"role": Value("string"), "content": Value("string")})
    return Features({"prompt": msgs, "chosen": msgs, "rejected": msgs})


def write_triples(pairs: list[dict], path) -> Path:
    """The kept pairs with their metadata, one JSON object per line (what DPO trains on, and why each was kept)."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as f:
        for p in pairs:
            if p.get("status") == "kept":
                f.write(json.dumps(p, ensure_ascii=False) + "\n")
    return path
