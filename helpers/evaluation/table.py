"""The 3-way table as numbers: per metric, each model's mean with a 95% bootstrap interval, and SFT+DPO's paired
difference over SFT with its interval and tests, plus the judge's pairwise preference row and which of the rubric
judge's rules decided each pairwise verdict."""

from __future__ import annotations

import numpy as np

from helpers import stats
from helpers.judges.rubric import COMPARE_RULES, RubricJudge
from helpers.task import unique_ids

MODELS = ("Base", "SFT", "SFT+DPO")
METRIC_ROWS = [("Format-conformance", "format_ok"), ("Severity match", "severity_match"),
               ("P(right severity)", "severity_prob"), ("Component match", "component_match"),
               ("Faithfulness (judge)", "faithfulness"), ("Length (chars)", "length_chars")]
OPTIONAL_COLUMNS = {"severity_prob"}  # added by severity_probs.add_to_scores; a table without it has no such row


def three_way_table(scores, pair, n_boot: int = 10_000, seed: int = 0):
    """The course's table with uncertainty: per metric and model the mean and a 95% bootstrap interval, the
    paired difference SFT+DPO - SFT with its interval and paired tests, and the pairwise preference row.
    Returns a long numeric DataFrame (one row per metric). A row with no data (n = 0: every judge call failed, or
    no prompts) has NaN means and p-values, shown as "n/a" by display_table, never p = 1.0."""
    import pandas as pd

    if len(scores):
        dup = scores[scores.duplicated(["id", "model"])]
        if len(dup):
            raise ValueError(f"three_way_table: duplicate example id {dup['id'].iloc[0]!r} for model "
                             f"{dup['model'].iloc[0]!r}; every prompt must appear once per model")
    unique_ids(list(pair["id"]) if "id" in pair else [], "three_way_table (pairwise)")
    rows = []
    for name, col in METRIC_ROWS:
        if col in OPTIONAL_COLUMNS and col not in scores:
            continue
        row = {"Metric": name}
        wide = _wide(scores, col)
        for label in MODELS:  # a model with no rows at all: NaN (no data), nothing missing
            m, lo, hi = stats.bootstrap_ci(_column(wide, label), n_boot=n_boot, seed=seed)
            row.update({label: m, f"{label} low": lo, f"{label} high": hi,
                        f"{label} missing": int(wide[label].isna().sum()) if label in wide else 0})
        d = stats.paired_diffs(_column(wide, "SFT"), _column(wide, "SFT+DPO"))
        m, lo, hi = stats.bootstrap_ci(d, n_boot=n_boot, seed=seed)
        row.update({"Δ DPO over SFT": m, "Δ low": lo, "Δ high": hi, "p (sign)": stats.sign_test(d),
                    "p (permutation)": stats.permutation_test(d, seed=seed), "n": len(d)})
        rows.append(row)
    w = stats.win_rate(pair["score"] if "score" in pair else [], n_boot=n_boot, seed=seed)
    rows.append({"Metric": "Preferred (judge pairwise vs SFT)", "SFT+DPO": w["rate"], "SFT+DPO low": w["low"],
                 "SFT+DPO high": w["high"], "SFT+DPO missing": w["missing"], "Δ DPO over SFT": w["rate"] - 0.5,
                 "Δ low": w["low"] - 0.5, "Δ high": w["high"] - 0.5, "p (sign)": w["p_sign"],
                 "p (permutation)": w["p_permutation"], "n": w["n"],
                 "wins/ties/losses": f"{w['wins']}/{w['ties']}/{w['losses']}"})
    return pd.DataFrame(rows).set_index("Metric")


def _wide(scores, col):
    """One column per model that has rows, one row per prompt id (empty when there are no scores)."""
    import pandas as pd

    if len(scores) == 0:
        return pd.DataFrame(dtype=float)
    return scores.pivot(index="id", columns="model", values=col)


def _column(wide, label: str):
    """wide[label], or an all-NaN column when that model has no rows (nothing to pair with)."""
    import pandas as pd

    return wide[label] if label in wide else pd.Series(np.nan, index=wide.index, dtype=float)


def pairwise_rules(examples: list[dict], first: list[str], second: list[str]):
    """Which rule of the rubric judge decided each verdict of `second` (SFT+DPO) against `first` (SFT): per rule
    (RubricJudge.compare tries format, severity, component, faithfulness, concision; else a tie) the verdicts it
    decided, how many `second` won, and their share of all verdicts (a DataFrame indexed by rule). The rubric judge
    is deterministic and its rules are symmetric, so these are the verdicts of `pairwise` with that judge, in either
    order; with another evaluation judge they say what the rubric would have decided on the same answers."""
    import pandas as pd

    unique_ids(examples, "pairwise_rules")
    verdicts = RubricJudge().compare_many(list(zip(examples, second, first, strict=True)), progress=False)
    rules = [v.details["rule"] for v in verdicts]
    rows = [{"rule": rule, "verdicts": rules.count(rule),
             "SFT+DPO won": sum(r == rule and v.winner == "a" for r, v in zip(rules, verdicts, strict=True)),
             "SFT won": sum(r == rule and v.winner == "b" for r, v in zip(rules, verdicts, strict=True))}
            for rule in COMPARE_RULES]
    frame = pd.DataFrame(rows).set_index("rule")
    frame["share"] = frame["verdicts"] / max(len(verdicts), 1)
    return frame
