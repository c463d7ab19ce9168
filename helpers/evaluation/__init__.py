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
    reflection_scaffold,
    to_markdown,
    wins_and_losses,
    word_count,
)
from helpers.evaluation.runs import SessionBNotFinished, checklist, model_digests, resolve_adapters
from helpers.evaluation.table import METRIC_ROWS, MODELS, OPTIONAL_COLUMNS, three_way_table

__all__ = [
    "METRIC_ROWS", "MODELS", "NO_DATA", "NO_JUDGED_PAIRS", "OPTIONAL_COLUMNS", "SessionBNotFinished", "adapter_scores",
    "answer_and_score", "cached_answers", "checklist", "compare_adapters", "display_table", "failure_flags",
    "metric_means", "model_digests", "pairwise",
    "per_prompt_scores", "reflection_scaffold", "resolve_adapters", "severity_breakdown", "side_by_side",
    "three_way_table", "to_markdown", "wins_and_losses", "word_count",
]
