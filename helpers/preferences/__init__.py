"""Preference data: sampling and scoring answers with a judge, choosing pairs, checking them, and the public
UltraFeedback alternative in the same format.

- `sampling`: N answers per prompt from the SFT model, each scored by the judge, in a resumable log.
- `pairing`: the pair-construction strategies (the course's two temperatures, best vs worst of N, best vs each
  severity, severity contrast), balancing the severities, and the TRL dataset.
- `report`: the data-quality report, strategy by strategy.
- `validation`: every bad row named with its reason before it reaches the trainer.
- `ultrafeedback`: UltraFeedback (binarized) converted to the same triples.
"""

from helpers.preferences.pairing import (
    STRATEGIES,
    available_strategies,
    balance_severities,
    select_pairs,
    similarity,
    to_dataset,
    triples,
    with_severity,
    write_triples,
)
from helpers.preferences.report import (
    pair_kind,
    pair_severities,
    quality_report,
    sample_report,
    severity_push,
    strategy_report,
)
from helpers.preferences.sampling import (
    chunk_seed,
    latest_records,
    log_path,
    read_records,
    repair_torn_tail,
    sample_and_score,
)
from helpers.preferences.ultrafeedback import load_ultrafeedback
from helpers.preferences.validation import TRIPLE_KEYS, PreferenceDataError, row_problem, validate_preferences

__all__ = ["STRATEGIES", "TRIPLE_KEYS", "PreferenceDataError", "available_strategies", "balance_severities",
           "chunk_seed", "latest_records", "load_ultrafeedback", "log_path", "pair_kind", "pair_severities",
           "quality_report", "read_records", "repair_torn_tail", "row_problem", "sample_and_score", "sample_report",
           "select_pairs", "severity_push", "similarity", "strategy_report", "to_dataset", "triples",
           "validate_preferences", "with_severity", "write_triples"]
