"""From pair records to what DPO trains on: the kept triples, a DatasetDict with a validation split, a JSONL file;
and why too few pairs were kept, when that happens."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

from helpers import checks
from helpers.preferences.validation import TRIPLE_KEYS, PreferenceDataError, validate_preferences


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

    checks.fraction("val_fraction", val_fraction, low_open=False)
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
