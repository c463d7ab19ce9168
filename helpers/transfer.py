"""Session C's second group: the same three models on the unseen-scenario split, and the gap to the in-template eval.

`eval` shares its scenario templates with the training splits, so its scores mix triage skill with template recall;
`unseen` holds incident types, phrasings and names never trained on (data/README.md). Scored the same way, the gap
between the two groups says how much of a model's score transfers. The groups are different prompts, so the gap's
interval comes from resampling each group independently (not paired), and its test is a two-sample permutation test.

What DPO changed on a group: the confusion matrix (gold x answered severity) of SFT and SFT+DPO and their difference,
and the push: per severity, how many more answers DPO gives it than SFT did, beside the training pairs' push.
"""

from __future__ import annotations

import numpy as np

from helpers import stats
from helpers.task import SEVERITIES, parse_response

CHANCE = {"severity_match": 0.25}  # four balanced severities
GAP_METRICS = (("Severity match", "severity_match"), ("Format-conformance", "format_ok"),
               ("Component match", "component_match"))
UNPARSEABLE = "unparseable"  # an answer with no readable severity: a column of its own, never a right answer
ANSWERED = (*SEVERITIES, UNPARSEABLE)
DIFFERENCE = "DPO − SFT"
PAIRS = "pairs: chosen − rejected"
RIGHT = "DPO − SFT, right answers"  # the part of the change on reports whose gold is that severity


def _values(scores, model: str, col: str) -> np.ndarray:
    return stats._clean(scores.loc[scores["model"] == model, col].to_numpy(dtype=float))


def two_sample_gap(a, b, n_boot: int = 10_000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """mean(a) - mean(b) with a percentile interval from resampling a and b independently (NaNs dropped)."""
    a, b = stats._clean(a), stats._clean(b)
    if len(a) == 0 or len(b) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    boots = (rng.choice(a, (n_boot, len(a))).mean(axis=1) - rng.choice(b, (n_boot, len(b))).mean(axis=1))
    alpha = (1 - level) / 2
    return float(a.mean() - b.mean()), float(np.quantile(boots, alpha)), float(np.quantile(boots, 1 - alpha))


def two_sample_permutation(a, b, n_perm: int = 20_000, seed: int = 0) -> float:
    """Two-sided p-value for 'a and b have the same mean' by shuffling the group labels (NaN without data)."""
    a, b = stats._clean(a), stats._clean(b)
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    pooled, observed = np.concatenate([a, b]), abs(a.mean() - b.mean())
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_perm):
        perm = rng.permutation(pooled)
        hits += abs(perm[:len(a)].mean() - perm[len(a):].mean()) >= observed - 1e-12
    return (hits + 1) / (n_perm + 1)


def transfer_gap(scores_in, scores_unseen, models=("Base", "SFT", "SFT+DPO"), n_boot: int = 10_000, seed: int = 0,
                 n_perm: int = 5_000):
    """Per metric and model: the in-template mean, the unseen mean (each with a 95% bootstrap interval), and the gap
    in-template - unseen with its interval and permutation p. A long numeric DataFrame, one row per (metric, model)."""
    import pandas as pd

    rows = []
    for name, col in GAP_METRICS:
        for model in models:
            a, b = _values(scores_in, model, col), _values(scores_unseen, model, col)
            m_in, lo_in, hi_in = stats.bootstrap_ci(a, n_boot=n_boot, seed=seed)
            m_un, lo_un, hi_un = stats.bootstrap_ci(b, n_boot=n_boot, seed=seed)
            gap, lo, hi = two_sample_gap(a, b, n_boot=n_boot, seed=seed)
            rows.append({"Metric": name, "model": model, "in-template": m_in, "in-template low": lo_in,
                         "in-template high": hi_in, "n in-template": len(a), "unseen": m_un, "unseen low": lo_un,
                         "unseen high": hi_un, "n unseen": len(b), "gap": gap, "gap low": lo, "gap high": hi,
                         "p (permutation)": two_sample_permutation(a, b, n_perm=n_perm, seed=seed),
                         "chance": CHANCE.get(col, np.nan)})
    return pd.DataFrame(rows).set_index(["Metric", "model"])


def display_gap(gap):
    """The gap table for reading: mean [95% interval] strings, p to three decimals."""
    import pandas as pd

    def cell(r, key):
        if np.isnan(r[key]):
            return "n/a (no data)"
        return f"{r[key]:.2f} [{r[key + ' low']:.2f}, {r[key + ' high']:.2f}]"

    out = [{"Metric": metric, "model": model, f"in-template (n={int(r['n in-template'])})": cell(r, "in-template"),
            f"unseen (n={int(r['n unseen'])})": cell(r, "unseen"),
            "gap (in-template - unseen)": ("n/a" if np.isnan(r["gap"])
                                           else f"{r['gap']:+.2f} [{r['gap low']:+.2f}, {r['gap high']:+.2f}]"),
            "p (permutation)": "n/a" if np.isnan(r["p (permutation)"]) else f"{r['p (permutation)']:.3f}"}
           for (metric, model), r in gap.iterrows()]
    return pd.DataFrame(out).set_index(["Metric", "model"])


def describe_transfer(gap, metric: str = "Severity match") -> list[str]:
    """Plain sentences on what the gap means for each model's `metric`, from the measured numbers only."""
    lines = []
    for model, r in gap.loc[metric].iterrows():
        if np.isnan(r["gap"]):
            lines.append(f"{model}: no data in one of the groups; nothing can be said about transfer.")
            continue
        head = (f"{model}: {r['in-template']:.2f} in-template vs {r['unseen']:.2f} "
                f"[{r['unseen low']:.2f}, {r['unseen high']:.2f}] on unseen scenarios, a gap of {r['gap']:+.2f} "
                f"[{r['gap low']:+.2f}, {r['gap high']:+.2f}]")
        if r["gap low"] > 0:
            what = "part of its in-template score is template recall, not triage that transfers"
        elif r["gap high"] < 0:
            what = "it does better on the unseen scenarios; the in-template eval does not flatter it"
        else:
            what = "the two groups are not distinguishable at this sample size"
        chance = r["chance"]
        fmt = gap.loc[("Format-conformance", model), "unseen"] if ("Format-conformance", model) in gap.index else 1.0
        if not np.isnan(fmt) and fmt < 0.5:
            what += (f"; it answers in the required format on only {fmt:.0%} of the unseen reports, so its severity "
                     "score there measures the format more than triage")
        elif not np.isnan(chance):
            if r["unseen low"] > chance:
                what += f"; on unseen scenarios it is above chance ({chance:.2f}): some of the rubric transfers"
            elif r["unseen high"] < chance:
                what += f"; on unseen scenarios it is below chance ({chance:.2f}): it has learned a wrong rule"
            else:
                what += f"; on unseen scenarios it is not distinguishable from chance ({chance:.2f})"
        lines.append(f"{head}: {what}.")
    return lines


def dpo_effect_by_group(tables: dict, metric: str = "Severity match") -> list[str]:
    """One sentence per group: DPO's paired effect on `metric` (Δ over SFT, interval, sign test) in that group."""
    lines = []
    for group, table in tables.items():
        r = table.loc[metric]
        if int(r["n"]) == 0 or np.isnan(r["Δ DPO over SFT"]):
            lines.append(f"{group}: no data")
            continue
        lines.append(f"{group} (n = {int(r['n'])}): {metric.lower()} SFT {r['SFT']:.2f} -> SFT+DPO {r['SFT+DPO']:.2f}, "
                     f"Δ {r['Δ DPO over SFT']:+.2f} [{r['Δ low']:+.2f}, {r['Δ high']:+.2f}], "
                     f"sign-test p = {r['p (sign)']:.3f}")
    return lines


# ----------------------------------------------------------------------------- what DPO changed on a group
def answered_severity(text) -> str:
    """The severity an answer gives (what severity match compares with the gold), or UNPARSEABLE."""
    return parse_response(text).severity or UNPARSEABLE


def severity_confusion(examples: list[dict], answers: list[str]):
    """Counts of gold severity (rows) x answered severity (columns, plus UNPARSEABLE), one answer per example."""
    import pandas as pd

    if len(answers) != len(examples):
        raise ValueError(f"{len(answers)} answers for {len(examples)} reports: one answer per report expected")
    counts = pd.DataFrame(0, index=pd.Index(SEVERITIES, name="gold"), columns=pd.Index(ANSWERED, name="answered"))
    for example, text in zip(examples, answers, strict=True):
        if example.get("severity") not in SEVERITIES:
            raise ValueError(f"report {example.get('id')!r}: gold severity {example.get('severity')!r} is not one "
                             f"of {', '.join(SEVERITIES)}")
        counts.loc[example["severity"], answered_severity(text)] += 1
    return counts


def dpo_confusion(examples: list[dict], answers: dict, before: str = "SFT", after: str = "SFT+DPO") -> dict:
    """{before: confusion, after: confusion, DIFFERENCE: after - before} on the same reports (`answers` maps a model
    to its answers, in the order of `examples`)."""
    first, second = severity_confusion(examples, answers[before]), severity_confusion(examples, answers[after])
    return {before: first, after: second, DIFFERENCE: second - first}


def confusion_lines(confusion: dict) -> list[str]:
    """Per gold severity: right answers before -> after, and where the answers DPO moved went (from the difference)."""
    names = [k for k in confusion if k != DIFFERENCE]
    before, after, diff = confusion[names[0]], confusion[names[1]], confusion[DIFFERENCE]
    n = int(before.to_numpy().sum())
    right = [int(np.trace(c.loc[:, list(SEVERITIES)].to_numpy())) for c in (before, after)]
    lines = [f"right severity on {n} reports: {names[0]} {right[0]}, {names[1]} {right[1]} ({right[1] - right[0]:+d})"]
    for gold in SEVERITIES:
        total = int(before.loc[gold].sum())
        if total == 0:
            continue
        moves = [f"{answered} {int(d):+d}" for answered, d in diff.loc[gold].items() if d]
        lines.append(f"gold {gold} ({total} reports): right {int(before.loc[gold, gold])} -> "
                     f"{int(after.loc[gold, gold])}; answers moved: {', '.join(moves) if moves else 'none'}")
    return lines


def push_table(confusion: dict, pairs_push: dict | None = None):
    """Per answered severity: the answers each model gives it, DPO − SFT, how much of that change is right answers
    (the difference's diagonal) and, given `pairs_push` (chosen − rejected per severity in the training pairs,
    "none" for no readable severity), the pairs' push beside it. A small DataFrame of integers."""
    import pandas as pd

    names = [k for k in confusion if k != DIFFERENCE]
    before, after, diff = confusion[names[0]], confusion[names[1]], confusion[DIFFERENCE]
    table = pd.DataFrame({names[0]: before.sum(), names[1]: after.sum(), DIFFERENCE: diff.sum(),
                          RIGHT: [int(diff.loc[s, s]) if s in SEVERITIES else 0 for s in ANSWERED]})
    if pairs_push is not None:
        table[PAIRS] = [int(pairs_push.get("none" if s == UNPARSEABLE else s, 0)) for s in ANSWERED]
    table.index.name = "severity"
    return table.astype(int)
