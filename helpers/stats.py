"""Uncertainty for small evaluations: bootstrap intervals and paired tests.

A few dozen prompts is a small sample, on which a win rate well above 50% can still be noise: every number in
Session C's table comes with a 95% bootstrap interval, and every difference with a paired test.

No data is not evidence: on an empty input (every judge call failed, or no prompts) the mean, the interval and the
p-values are NaN ("n/a"), never p = 1.0 or a rate. p = 1.0 is kept for data that is all ties (zero differences).
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def _clean(values) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr[~np.isnan(arr)]


def bootstrap_ci(values, n_boot: int = 10_000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap interval of the mean. NaNs (missing data) are left out."""
    x = _clean(values)
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(1)
    alpha = (1 - level) / 2
    return float(x.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def paired_diffs(a, b) -> np.ndarray:
    """b - a per item, keeping only items where both are present."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal lengths, got {a.shape} and {b.shape}")
    keep = ~(np.isnan(a) | np.isnan(b))
    return b[keep] - a[keep]


def sign_test(diffs) -> float:
    """Two-sided exact sign test of 'positive and negative differences are equally likely'; zeros are dropped.
    NaN when there are no differences at all (no data), 1.0 when all of them are zero (all ties)."""
    d = _clean(diffs)
    if len(d) == 0:
        return float("nan")
    pos, neg = int((d > 0).sum()), int((d < 0).sum())
    n = pos + neg
    if n == 0:
        return 1.0
    k = min(pos, neg)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return float(min(1.0, 2 * tail))


def permutation_test(diffs, n_perm: int = 20_000, seed: int = 0) -> float:
    """Two-sided paired permutation (sign-flip) test of mean difference 0. Exact for up to 16 non-zero
    differences, Monte Carlo (with the +1 correction) beyond. NaN with no data, 1.0 when all differences are 0."""
    d = _clean(diffs)
    if len(d) == 0:
        return float("nan")
    d = d[d != 0]
    if len(d) == 0:
        return 1.0
    observed = abs(d.mean())
    if len(d) <= 16:
        signs = np.array(list(itertools.product((-1.0, 1.0), repeat=len(d))))
        stats = np.abs((signs * d).mean(1))
        return float((stats >= observed - 1e-12).mean())
    rng = np.random.default_rng(seed)
    signs = rng.choice((-1.0, 1.0), size=(n_perm, len(d)))
    stats = np.abs((signs * d).mean(1))
    return float(((stats >= observed - 1e-12).sum() + 1) / (n_perm + 1))


def paired_bootstrap_diff(a, b, n_boot: int = 10_000, level: float = 0.95, seed: int = 0):
    """(mean of b - a, low, high) resampling items jointly, so the pairing is kept."""
    return bootstrap_ci(paired_diffs(a, b), n_boot=n_boot, level=level, seed=seed)


def win_rate(scores, n_boot: int = 10_000, seed: int = 0) -> dict:
    """Pairwise preference: per-item scores 1 (win), 0.5 (tie), 0 (loss), NaN (judge failed). The rate with a
    bootstrap interval and two tests against 50%: a sign test on wins vs losses and a permutation test. With no
    judged item (n = 0) the rate, its interval and both p-values are NaN."""
    s = np.asarray(scores, dtype=float)
    mean, low, high = bootstrap_ci(s, n_boot=n_boot, seed=seed)
    centred = _clean(s) - 0.5
    return {"rate": mean, "low": low, "high": high, "n": int((~np.isnan(s)).sum()), "missing": int(np.isnan(s).sum()),
            "wins": int((centred > 0).sum()), "ties": int((centred == 0).sum()), "losses": int((centred < 0).sum()),
            "p_sign": sign_test(centred), "p_permutation": permutation_test(centred, seed=seed)}
