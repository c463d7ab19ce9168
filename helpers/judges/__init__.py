"""Judges behind one interface: which of two triage answers is better, how faithful one answer is, and how
good one answer is on its own (a pointwise score, for ranking N sampled answers per prompt).

- `RubricJudge` (rubric.py): the offline default. Deterministic rules over the task's gold labels and the report.
- `ClaudeJudge` (claude.py): the Anthropic Messages API through the official `anthropic` SDK, asked in both
  orders (position swap) for comparisons, cached on disk, with bounded concurrency. A call that still fails after
  the SDK's retries is recorded as a failure, never as a verdict or a score. What it asks is in prompts.py, how it
  reads replies in replies.py.
- `make_judge("auto")` (here): Claude when ANTHROPIC_API_KEY is set, otherwise the rubric judge.
- `checked_verdicts` / `checked_scores` (common.py): what any judge returns, checked where it enters the workbook;
  anything but a clean a/b/tie or a number on the judge's scale becomes a recorded failure.

The public names are re-exported here. To monkeypatch what a judge uses, patch the module that uses it (e.g.
`helpers.judges.claude.parse_reply`), not this package.

The API key is read by the SDK from the environment only; nothing here prints, logs or stores it.
"""

from __future__ import annotations

import os

from helpers.judges.claude import PRICE_PER_MTOK, ClaudeJudge
from helpers.judges.common import (
    FAITHFULNESS_RANGE,
    VERDICTS,
    Faithfulness,
    JudgeResult,
    Score,
    Verdict,
    checked_score,
    checked_scores,
    checked_verdict,
    checked_verdicts,
    score_problem,
    score_range,
    value_problem,
    verdict_problem,
)
from helpers.judges.prompts import (
    COMPARE_SCHEMA,
    FAITH_SCHEMA,
    JUDGE_PROMPT_VERSION,
    JUDGE_SYSTEM,
    MAX_RESPONSE_CHARS,
    SCORE_SCHEMA,
)
from helpers.judges.replies import JudgeCallError, parse_reply, read_winner
from helpers.judges.rubric import (
    SCORE_MAX,
    SCORE_WEIGHTS,
    RubricJudge,
    deciding_part,
    rubric_faithfulness,
    unsupported_facts,
)

_winner = read_winner  # its private name, for callers that reach it here

JUDGE_KINDS = ("auto", "rubric", "claude")


def make_judge(kind: str = "auto", model: str = "claude-opus-4-7", concurrency: int = 4, use_batch_api: bool = False,
               verbose: bool = True, **kwargs):
    """One of JUDGE_KINDS: "rubric", "claude", or "auto" (Claude when ANTHROPIC_API_KEY is set, else the rubric
    judge). `concurrency`, `use_batch_api` and `kwargs` configure the Claude judge and are ignored by the rubric
    judge."""
    if kind not in JUDGE_KINDS:
        choices = ", ".join(map(repr, JUDGE_KINDS[:-1])) + f" or {JUDGE_KINDS[-1]!r}"
        raise ValueError(f"unknown judge {kind!r}; choose {choices}")
    if kind == "auto":
        kind = "claude" if os.environ.get("ANTHROPIC_API_KEY") else "rubric"
        if verbose:
            why = "ANTHROPIC_API_KEY is set" if kind == "claude" else "no ANTHROPIC_API_KEY in the environment"
            print(f"judge: {kind} ({why})")
    if kind == "rubric":
        return RubricJudge()
    if not os.environ.get("ANTHROPIC_API_KEY") and "client" not in kwargs:
        raise RuntimeError("the Claude judge needs ANTHROPIC_API_KEY in the environment (never in a notebook)")
    return ClaudeJudge(model=model, concurrency=concurrency, use_batch_api=use_batch_api, **kwargs)


__all__ = [
    "COMPARE_SCHEMA", "FAITHFULNESS_RANGE", "FAITH_SCHEMA", "JUDGE_KINDS", "JUDGE_PROMPT_VERSION", "JUDGE_SYSTEM",
    "MAX_RESPONSE_CHARS", "PRICE_PER_MTOK", "SCORE_MAX", "SCORE_SCHEMA", "SCORE_WEIGHTS", "VERDICTS", "ClaudeJudge",
    "Faithfulness", "JudgeCallError", "JudgeResult", "RubricJudge", "Score", "Verdict", "checked_score",
    "checked_scores", "checked_verdict", "checked_verdicts", "deciding_part", "make_judge", "parse_reply",
    "rubric_faithfulness", "score_problem", "score_range", "unsupported_facts", "value_problem", "verdict_problem",
]
