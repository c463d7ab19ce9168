"""Preference data: sampling and scoring answers with a judge, choosing pairs, checking them, and the public
UltraFeedback alternative in the same format.

- `sampling`: N answers per prompt from the SFT model, each scored by the judge, in a resumable log.
- `files`: reading that log, and the preferences file a training run is given.
- `pairing`: the pair-construction strategies behind `select_pairs`, and balancing the severities.
- `dataset`: the kept pairs as triples, a TRL DatasetDict or a JSONL file.
- `report`: the data-quality report, strategy by strategy, and where the pairs can teach reading.
- `validation`: every bad row named with its reason before it reaches the trainer.
- `ultrafeedback`: UltraFeedback (binarized) converted to the same triples.
"""

from helpers.preferences.dataset import to_dataset, triples, write_triples
from helpers.preferences.files import read_preferences, read_records, repair_torn_tail
from helpers.preferences.pairing import (
    STRATEGIES,
    available_strategies,
    balance_severities,
    select_pairs,
    similarity,
    with_severity,
)
from helpers.preferences.report import (
    judge_address_lines,
    pair_kind,
    pair_severities,
    quality_report,
    reading_report,
    sample_report,
    severity_push,
    strategy_report,
)
from helpers.preferences.sampling import chunk_seed, latest_records, log_path, sample_and_score
from helpers.preferences.ultrafeedback import load_ultrafeedback, preview_ultrafeedback
from helpers.preferences.validation import TRIPLE_KEYS, PreferenceDataError, row_problem, validate_preferences

__all__ = ["STRATEGIES", "TRIPLE_KEYS", "PreferenceDataError", "available_strategies", "balance_severities",
           "chunk_seed", "judge_address_lines", "latest_records", "load_ultrafeedback", "log_path", "pair_kind",
           "pair_severities", "preview_ultrafeedback",
           "quality_report", "read_preferences", "reading_report", "read_records", "repair_torn_tail", "row_problem",
           "sample_and_score", "sample_report", "select_pairs", "severity_push", "similarity", "strategy_report",
           "to_dataset", "triples", "validate_preferences", "with_severity", "write_triples"]
