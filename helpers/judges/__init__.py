"""Judges behind one interface: which of two triage answers is better, how faithful one answer is, and how
good one answer is on its own (a pointwise score, for ranking N sampled answers per prompt).

- `RubricJudge` (rubric.py): the offline default. Deterministic rules over the task's gold labels and the report.
- `ClaudeJudge` (claude.py): the Anthropic Messages API through the official `anthropic` SDK, asked in both
  orders (position swap) for comparisons, cached on disk, with bounded concurrency. A call that still fails after
  the SDK's retries is recorded as a failure, never as a verdict or a score.
- `make_judge("auto")` (common.py): Claude when ANTHROPIC_API_KEY is set, otherwise the rubric judge.
- `checked_verdicts` / `checked_scores` (common.py): what any judge returns, checked where it enters the workbook;
  anything but a clean a/b/tie or a number on the judge's scale becomes a recorded failure.

This package was one module; it is split one job per file, and everything is re-exported here so that
`from helpers.judges import ...` keeps working. The names live in the submodules: to monkeypatch what a judge
uses, patch the submodule (e.g. `helpers.judges.claude.parse_reply`), not this package.

The API key is read by the SDK from the environment only; nothing here prints, logs or stores it.
"""

from helpers.judges.claude import (
    COMPARE_SCHEMA,
    FAITH_SCHEMA,
    JUDGE_PROMPT_VERSION,
    JUDGE_SYSTEM,
    MAX_RESPONSE_CHARS,
    PRICE_PER_MTOK,
    SCORE_SCHEMA,
    ClaudeJudge,
    JudgeCallError,
    parse_reply,
)
from helpers.judges.claude import _winner as _winner  # private, but tests and old code reach it here
from helpers.judges.common import (
    FAITHFULNESS_RANGE,
    VERDICTS,
    Faithfulness,
    Score,
    Verdict,
    checked_score,
    checked_scores,
    checked_verdict,
    checked_verdicts,
    make_judge,
    score_problem,
    score_range,
    value_problem,
    verdict_problem,
)
from helpers.judges.rubric import (
    SCORE_MAX,
    SCORE_WEIGHTS,
    RubricJudge,
    deciding_part,
    rubric_faithfulness,
    unsupported_facts,
)

__all__ = ["JUDGE_KINDS",
    "COMPARE_SCHEMA", "FAITHFULNESS_RANGE", "FAITH_SCHEMA", "JUDGE_PROMPT_VERSION", "JUDGE_SYSTEM",
    "MAX_RESPONSE_CHARS", "PRICE_PER_MTOK", "SCORE_MAX", "SCORE_SCHEMA", "SCORE_WEIGHTS", "VERDICTS", "ClaudeJudge",
    "Faithfulness", "JudgeCallError", "RubricJudge", "Score", "Verdict", "checked_score", "checked_scores",
    "checked_verdict", "checked_verdicts", "deciding_part", "make_judge", "parse_reply", "rubric_faithfulness",
    "score_problem", "score_range", "unsupported_facts", "value_problem", "verdict_problem",
]
