"""What every judge returns, and how a notebook picks a judge.

This file exists so the result types (`Verdict` for a pairwise judgement, `Faithfulness` and `Score` for
judgements of one answer) and `make_judge` are shared by the rubric judge and the Claude judge without either
importing the other. A failed judgement is always a failed result (`failed=True`, the value None, the error
kept), never a number or a winner.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

VERDICTS = ("a", "b", "tie")


@dataclass
class Verdict:
    """The outcome of one pairwise judgement. `winner` is "a", "b", "tie", or None when the judge failed."""

    winner: str | None
    rationale: str
    judge: str
    failed: bool = False
    error: str | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Faithfulness:
    """A 1-5 faithfulness score (5: every fact in the answer is in the report), or None when the judge failed."""

    score: int | None
    rationale: str
    judge: str
    failed: bool = False
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Score:
    """A pointwise score of one answer, on the judge's own scale (rubric: 0-7.5, Claude: 1-10; higher is better),
    or None when the judge failed. Scores are comparable between answers of one judge, not across judges."""

    score: float | None
    rationale: str
    judge: str
    failed: bool = False
    error: str | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def make_judge(kind: str = "auto", model: str = "claude-opus-4-7", concurrency: int = 4, use_batch_api: bool = False,
               verbose: bool = True, **kwargs):
    """"rubric", "claude", or "auto" (Claude when ANTHROPIC_API_KEY is set, else the rubric judge).
    `concurrency`, `use_batch_api` and `kwargs` configure the Claude judge and are ignored by the rubric judge."""
    # Imported here: both judge modules import the result types above.
    from helpers.judges.claude import ClaudeJudge
    from helpers.judges.rubric import RubricJudge

    if kind == "auto":
        kind = "claude" if os.environ.get("ANTHROPIC_API_KEY") else "rubric"
        if verbose:
            why = "ANTHROPIC_API_KEY is set" if kind == "claude" else "no ANTHROPIC_API_KEY in the environment"
            print(f"judge: {kind} ({why})")
    if kind == "rubric":
        return RubricJudge()
    if kind == "claude":
        if not os.environ.get("ANTHROPIC_API_KEY") and "client" not in kwargs:
            raise RuntimeError("the Claude judge needs ANTHROPIC_API_KEY in the environment (never in a notebook)")
        return ClaudeJudge(model=model, concurrency=concurrency, use_batch_api=use_batch_api, **kwargs)
    raise ValueError(f"unknown judge {kind!r}; choose 'auto', 'rubric' or 'claude'")
