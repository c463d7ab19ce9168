"""Evaluation: answering held-out incident reports, scoring the answers, and Session C's 3-way comparison.

Inside the package, modules import downward only: __init__ > report > table; answers and runs import no sibling.
"""

from helpers.evaluation.answers import (
    adapter_scores,
    answer_and_score,
    cached_answers,
    compare_adapters,
    metric_means,
    pairwise,
    per_prompt_scores,
    severity_breakdown,
    side_by_side,
)
from helpers.evaluation.report import (
    NO_DATA,
    NO_JUDGED_PAIRS,
    display_table,
    failure_flags,
    judge_lines,
    reflection_scaffold,
    rule_lines,
    to_markdown,
    wins_and_losses,
    word_count,
)
from helpers.evaluation.runs import (
    PAPER_NOTES_WORDS,
    REFLECTION_WORDS,
    SessionBNotFinished,
    checklist,
    model_digests,
    pairs_judge,
    resolve_adapters,
)
from helpers.evaluation.table import METRIC_ROWS, MODELS, OPTIONAL_COLUMNS, pairwise_rules, three_way_table

__all__ = [
    "METRIC_ROWS", "MODELS", "NO_DATA", "NO_JUDGED_PAIRS", "OPTIONAL_COLUMNS", "PAPER_NOTES_WORDS", "REFLECTION_WORDS",
    "SessionBNotFinished", "adapter_scores", "answer_and_score", "cached_answers", "checklist", "compare_adapters",
    "display_table", "failure_flags", "judge_lines", "metric_means", "model_digests", "pairs_judge", "pairwise",
    "pairwise_rules", "per_prompt_scores", "reflection_scaffold", "resolve_adapters", "rule_lines",
    "severity_breakdown", "side_by_side", "three_way_table", "to_markdown", "wins_and_losses", "word_count",
]
