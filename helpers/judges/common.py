"""What every judge returns, and the checks applied to it where it enters the workbook.

The result types are `Verdict` (a pairwise judgement), `Faithfulness` and `Score` (judgements of one answer). A
failed judgement is always a failed result (`failed=True`, the value None, the error kept), never a number or a
winner; `checked_verdicts` and `checked_scores` enforce that on whatever a judge returns.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, replace

from helpers.checks import show
from helpers.secrets import redact

VERDICTS = ("a", "b", "tie")


@dataclass
class JudgeResult:
    """The fields every judgement has after its value: the judge's reason, the judge's name, and whether it failed
    (then the value is None and `error` says why)."""

    rationale: str
    judge: str
    failed: bool = False
    error: str | None = None

    def __post_init__(self):
        # every way a result is made (a judge, failure(), replace(), the checks) passes here: no key in `error`
        if isinstance(self.error, str):
            self.error = redact(self.error)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def failure(cls, judge: str, error: str, rationale: str = "judge call failed"):
        """A failed result of this type: no value, the error kept."""
        return cls(None, rationale, judge, failed=True, error=error)


# The value comes first in each result (Verdict("a", rationale, judge)). A dataclass puts the fields of its later
# bases first, so each result lists its value's class after JudgeResult.
@dataclass
class _Winner:
    winner: str | None


@dataclass
class _Value:
    score: float | None


@dataclass
class Verdict(JudgeResult, _Winner):
    """The outcome of one pairwise judgement. `winner` is "a", "b", "tie", or None when the judge failed."""

    details: dict = field(default_factory=dict)


@dataclass
class Faithfulness(JudgeResult, _Value):
    """A 1-5 faithfulness score (5: every fact in the answer is in the report), or None when the judge failed."""

    score: int | None  # narrows _Value.score; keeps its place first


@dataclass
class Score(JudgeResult, _Value):
    """A pointwise score of one answer, on the judge's own scale (rubric: 0-7.5, Claude: 1-10; higher is better),
    or None when the judge failed. Scores are comparable between answers of one judge, not across judges."""

    details: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- checked at the boundary
# A judge is code the workbook does not control (a remote model, a learner's own class). What it returns is checked
# where it enters the workbook, so that a winner "A", a None without failed=True, a score "7" or a score of 11 is
# recorded as a failure (failed=True, no value, the error naming the judge and the bad value) and never counted as
# a verdict or a score. A batch with the wrong number of results is failed as a whole: which result belongs to
# which item is unknown, so none of them can be trusted (the failures are retried on the next run).

FAITHFULNESS_RANGE = (1, 5)


def score_range(judge) -> tuple[float, float]:
    """The scale of `judge.score` ((low, high), e.g. (0, 7.5) for the rubric judge, (1, 10) for Claude); any
    finite number when the judge does not declare `score_range`."""
    low, high = getattr(judge, "score_range", None) or (-math.inf, math.inf)
    return low, high


def _show(value) -> str:
    """A judge's junk, quoted in one short line (it can be long)."""
    return show(value, width=80)


def verdict_problem(verdict) -> str | None:
    """Why `verdict` is not a usable pairwise result (None when it is): a Verdict whose winner is exactly "a", "b"
    or "tie" with failed False, or a failure (failed True) with no winner."""
    if not isinstance(verdict, Verdict):
        return f"returned {_show(verdict)} ({type(verdict).__name__}), not a Verdict"
    if verdict.failed is True:
        return None if verdict.winner is None else f"returned failed=True with winner {_show(verdict.winner)}"
    if verdict.failed is not False:
        return f"returned failed={_show(verdict.failed)}, not True or False"
    if not isinstance(verdict.winner, str) or verdict.winner not in VERDICTS:
        return f"returned winner {_show(verdict.winner)}, not 'a', 'b' or 'tie'"
    return None


def value_problem(value, low: float = -math.inf, high: float = math.inf) -> str | None:
    """Why `value` is not a usable score on the scale [low, high] (None when it is): a real int or float, not a
    bool, a string or NaN."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return f"score {_show(value)} ({type(value).__name__}) is not a number"
    if not math.isfinite(value):
        return f"score {_show(value)} is not a finite number"
    if not low <= value <= high:
        return f"score {_show(value)} is outside the judge's scale {low:g} to {high:g}"
    return None


def score_problem(result, low: float = -math.inf, high: float = math.inf) -> str | None:
    """Why `result` (a Score or Faithfulness) is not usable (None when it is): failed False with a score on the
    scale, or a failure (failed True) with score None."""
    if not isinstance(result, (Score, Faithfulness)):
        return f"returned {_show(result)} ({type(result).__name__}), not a Score"
    if result.failed is True:
        return None if result.score is None else f"returned failed=True with score {_show(result.score)}"
    if result.failed is not False:
        return f"returned failed={_show(result.failed)}, not True or False"
    return value_problem(result.score, low, high)


def _redacted(result):
    """`result`, or a copy with its error redacted when a judge set the field after making it."""
    error = result.error
    return replace(result, error=redact(error)) if isinstance(error, str) and redact(error) != error else result


def _failure_error(name: str, problem: str) -> str:
    return f"judge {name} {problem}: recorded as a failure"


def checked_verdict(verdict, judge_name: str) -> Verdict:
    """`verdict` if it is a clean verdict or a clean failure; otherwise a failed Verdict whose error names the judge
    and the bad value. A failure without an error message gets one."""
    problem = verdict_problem(verdict)
    if problem is not None:
        details = getattr(verdict, "details", None)
        return Verdict(None, "judge returned an unusable verdict", judge_name, failed=True,
                       error=_failure_error(judge_name, problem), details=details if isinstance(details, dict) else {})
    if verdict.failed and not verdict.error:
        return replace(verdict, error=f"judge {judge_name} reported a failure without an error message")
    return _redacted(verdict)


def checked_score(result, judge_name: str, low: float = -math.inf, high: float = math.inf,
                  kind: type = Score):
    """`result` if it is a clean score on [low, high] or a clean failure; otherwise a failed `kind` (Score or
    Faithfulness) whose error names the judge and the bad value."""
    problem = score_problem(result, low, high)
    if problem is not None:
        kind = type(result) if isinstance(result, (Score, Faithfulness)) else kind
        return kind.failure(judge_name, _failure_error(judge_name, problem), "judge returned an unusable score")
    if result.failed and not result.error:
        return replace(result, error=f"judge {judge_name} reported a failure without an error message")
    return _redacted(result)


def _count_problem(results, n_expected: int, judge_name: str, what: str) -> str | None:
    try:
        n = len(results)
    except TypeError:
        return f"judge {judge_name} returned {type(results).__name__} instead of a list of {n_expected} {what}"
    if n != n_expected:
        return (f"judge {judge_name} returned {n} {what} for {n_expected} items: which belongs to which is unknown, "
                "so the whole batch is recorded as failures")
    return None


def checked_verdicts(verdicts, n_expected: int, judge_name: str) -> list[Verdict]:
    """`checked_verdict` for each of a batch's results (judge.compare_many). A batch with a wrong count becomes
    `n_expected` failures (one error line naming the judge and both counts), never a shifted or truncated list."""
    problem = _count_problem(verdicts, n_expected, judge_name, "verdicts")
    if problem is not None:
        return [Verdict.failure(judge_name, problem, "judge returned a wrong number of verdicts")
                for _ in range(n_expected)]
    return [checked_verdict(v, judge_name) for v in verdicts]


def checked_scores(scores, n_expected: int, judge_name: str, low: float = -math.inf, high: float = math.inf,
                   kind: type = Score) -> list:
    """`checked_score` for each of a batch's results (judge.score_many, or faithfulness_many with
    kind=Faithfulness and FAITHFULNESS_RANGE). A batch with a wrong count becomes `n_expected` failures."""
    problem = _count_problem(scores, n_expected, judge_name, "scores")
    if problem is not None:
        return [kind.failure(judge_name, problem, "judge returned a wrong number of scores") for _ in range(n_expected)]
    return [checked_score(s, judge_name, low, high, kind) for s in scores]
