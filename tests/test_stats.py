import math

import numpy as np
import pytest

from helpers import stats


def test_bootstrap_of_a_constant_is_a_point():
    assert stats.bootstrap_ci([0.7] * 30) == (pytest.approx(0.7), pytest.approx(0.7), pytest.approx(0.7))


def test_bootstrap_interval_matches_the_normal_approximation():
    rng = np.random.default_rng(1)
    x = (rng.random(400) < 0.3).astype(float)
    mean, low, high = stats.bootstrap_ci(x, seed=0)
    half = 1.96 * math.sqrt(mean * (1 - mean) / len(x))
    assert low < mean < high
    assert (high - low) / 2 == pytest.approx(half, rel=0.1)


def test_bootstrap_covers_the_truth_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    covered = 0
    for trial in range(200):
        x = rng.normal(1.0, 2.0, size=30)
        _, low, high = stats.bootstrap_ci(x, n_boot=2000, seed=trial)
        covered += low <= 1.0 <= high
    assert 0.88 <= covered / 200 <= 0.99


def test_missing_values_are_left_out():
    mean, low, high = stats.bootstrap_ci([1.0, float("nan"), 0.0, 1.0])
    assert mean == pytest.approx(2 / 3)
    assert math.isnan(stats.bootstrap_ci([float("nan")])[0])


def test_sign_test_known_values():
    assert stats.sign_test([1] * 10) == pytest.approx(2 / 1024)
    assert stats.sign_test([1] * 5 + [-1] * 5) == 1.0
    # 8 of 10: two-sided p = 2 * P(X <= 2) = 2 * (1 + 10 + 45) / 1024
    assert stats.sign_test([1] * 8 + [-1] * 2 + [0] * 7) == pytest.approx(2 * 56 / 1024)


def test_permutation_test_known_values():
    assert stats.permutation_test([1.0] * 10) == pytest.approx(2 / 1024)  # exact: only all-plus/all-minus as extreme
    assert stats.permutation_test([1.0, -1.0]) == 1.0
    assert stats.permutation_test([0.0, 0.0]) == 1.0
    big = np.random.default_rng(0).normal(0.0, 1.0, 200)
    assert stats.permutation_test(big) > 0.05  # no effect: not significant
    assert stats.permutation_test(big + 0.5) < 0.001  # a clear shift: significant


def test_paired_difference():
    a = [0, 0, 1, 1, float("nan")]
    b = [1, 1, 1, 1, 1]
    assert list(stats.paired_diffs(a, b)) == [1, 1, 0, 0]
    mean, low, high = stats.paired_bootstrap_diff(a, b)
    assert mean == 0.5 and 0 <= low <= 0.5 <= high <= 1
    with pytest.raises(ValueError, match="equal lengths"):
        stats.paired_diffs([1, 2], [1])


def test_win_rate_with_ties_and_failures():
    scores = [1] * 18 + [0.5] * 4 + [0] * 6 + [float("nan")] * 2
    w = stats.win_rate(scores)
    assert w["rate"] == pytest.approx((18 + 2) / 28)
    assert (w["wins"], w["ties"], w["losses"], w["missing"], w["n"]) == (18, 4, 6, 2, 28)
    assert w["p_sign"] == pytest.approx(stats.sign_test([1] * 18 + [-1] * 6))
    assert w["low"] < w["rate"] < w["high"]
    # 62% on 30 prompts, the course's example, is not significant
    assert stats.win_rate([1] * 16 + [0.5] * 5 + [0] * 9)["p_sign"] > 0.05


@pytest.mark.parametrize("values", [pytest.param([], id="empty"), pytest.param([float("nan")] * 4, id="all-missing")])
def test_no_data_gives_no_p_value_and_no_rate(values):
    # every judge call failed, or no prompts: "n/a", never p = 1.0 or a 50% rate
    assert math.isnan(stats.sign_test(values)) and math.isnan(stats.permutation_test(values))
    w = stats.win_rate(values, n_boot=100)
    assert (w["n"], w["wins"], w["ties"], w["losses"]) == (0, 0, 0, 0) and w["missing"] == len(values)
    assert all(math.isnan(w[k]) for k in ("rate", "low", "high", "p_sign", "p_permutation"))


def test_all_ties_is_data_and_keeps_p_one():
    assert stats.sign_test([0.0, 0.0, 0.0]) == 1.0 and stats.permutation_test([0.0, 0.0]) == 1.0
    w = stats.win_rate([0.5] * 4, n_boot=100)
    assert (w["rate"], w["n"], w["ties"], w["p_sign"]) == (0.5, 4, 4, 1.0)
