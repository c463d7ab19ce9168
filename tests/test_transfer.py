"""Session C's second group: the in-template vs unseen-scenario gap, its interval, test and plain-words reading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import evaluation as ev
from helpers import transfer


def _scores(rates: dict[str, float], n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for model, rate in rates.items():
        hits = rng.permutation(np.r_[np.ones(round(rate * n)), np.zeros(n - round(rate * n))])
        rows += [{"id": f"x-{i}", "model": model, "severity_match": h, "format_ok": 1.0, "component_match": 1.0}
                 for i, h in enumerate(hits)]
    return pd.DataFrame(rows)


def test_gap_interval_and_permutation_test_on_known_groups():
    a, b = np.r_[np.ones(70), np.zeros(30)], np.r_[np.ones(30), np.zeros(70)]
    gap, lo, hi = transfer.two_sample_gap(a, b, n_boot=4000)
    assert gap == pytest.approx(0.40) and 0.25 < lo < 0.40 < hi < 0.55
    assert transfer.two_sample_permutation(a, b, n_perm=2000) < 0.001
    assert transfer.two_sample_permutation(a, a.copy(), n_perm=2000) > 0.9
    assert np.isnan(transfer.two_sample_gap([], b)[0]) and np.isnan(transfer.two_sample_permutation(a, []))
    assert transfer.two_sample_gap([1.0, np.nan, 1.0], [0.0, 0.0])[0] == 1.0  # NaN (a judge failure) left out


def test_transfer_gap_reads_recall_transfer_and_a_wrong_rule():
    inside = _scores({"Base": 0.25, "SFT": 0.80, "SFT+DPO": 0.85}, 140, 0)
    unseen = _scores({"Base": 0.25, "SFT": 0.05, "SFT+DPO": 0.55}, 120, 1)
    gap = transfer.transfer_gap(inside, unseen, n_boot=2000, n_perm=500)
    sev = gap.loc["Severity match"]
    assert sev.loc["SFT", "in-template"] == pytest.approx(0.80)
    assert sev.loc["SFT", "unseen"] == pytest.approx(0.05, abs=0.01)
    assert sev.loc["SFT", "n in-template"] == 140 and sev.loc["SFT", "n unseen"] == 120
    assert sev.loc["SFT", "chance"] == 0.25 and np.isnan(gap.loc[("Format-conformance", "SFT"), "chance"])
    lines = dict(zip(("Base", "SFT", "SFT+DPO"), transfer.describe_transfer(gap), strict=True))
    assert "not distinguishable at this sample size" in lines["Base"] and "from chance" in lines["Base"]
    no_json = transfer.transfer_gap(inside, unseen.assign(format_ok=0.0), n_boot=200, n_perm=100)
    assert "required format on only 0% of the unseen reports" in transfer.describe_transfer(no_json)[0]
    assert "template recall" in lines["SFT"] and "below chance (0.25): it has learned a wrong rule" in lines["SFT"]
    assert "above chance (0.25): some of the rubric transfers" in lines["SFT+DPO"]
    shown = transfer.display_gap(gap)
    assert list(shown.columns) == ["in-template (n=140)", "unseen (n=120)", "gap (in-template - unseen)",
                                   "p (permutation)"]
    assert shown.loc[("Severity match", "SFT"), "gap (in-template - unseen)"].startswith("+0.75 [")


def test_an_empty_group_is_no_data_not_a_number():
    inside = _scores({"Base": 0.5, "SFT": 0.5, "SFT+DPO": 0.5}, 20, 0)
    empty = inside.iloc[0:0]
    gap = transfer.transfer_gap(inside, empty, n_boot=200, n_perm=100)
    assert gap["gap"].isna().all()
    assert all("no data" in line for line in transfer.describe_transfer(gap))
    assert transfer.display_gap(gap).iloc[0]["unseen (n=0)"] == "n/a (no data)"


def test_both_groups_reach_the_reflection_scaffold():
    scores = _scores({"Base": 0.3, "SFT": 0.5, "SFT+DPO": 0.6}, 40, 0).assign(faithfulness=5.0, length_chars=100)
    pair = pd.DataFrame({"id": [f"x-{i}" for i in range(40)], "score": [1.0] * 25 + [0.0] * 15})
    table = ev.three_way_table(scores, pair, n_boot=200)
    lines = transfer.dpo_effect_by_group({"in-template": table, "unseen scenarios": table})
    assert lines[0].startswith("in-template (n = 40): severity match SFT 0.50 -> SFT+DPO 0.60, Δ +0.10")
    text = ev.reflection_scaffold(table, [], 500, "rubric", transfer=lines)
    assert "Does it transfer?" in text and lines[1] in text and "template recall" in text
    assert "Does it transfer?" not in ev.reflection_scaffold(table, [], 500, "rubric")
