"""Session C's second group: the in-template vs unseen-scenario gap, its interval, test and plain-words reading."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from helpers import evaluation as ev
from helpers import plots, transfer
from helpers.task import SEVERITIES, format_answer


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


# ----------------------------------------------------------------------------- what DPO changed on a group
def _answers(severities: list[str | None]) -> list[str]:
    return [format_answer(s, "api", "Something broke.") if s else "no JSON here" for s in severities]


GOLD = ["SEV1"] * 3 + ["SEV2"] * 3 + ["SEV4"] * 2
REPORTS = [{"id": f"u-{i}", "severity": s} for i, s in enumerate(GOLD)]
SFT = _answers(["SEV1", "SEV4", "SEV4", "SEV2", "SEV2", None, "SEV4", "SEV4"])
DPO = _answers(["SEV1", "SEV1", "SEV4", "SEV1", "SEV1", "SEV2", "SEV4", "SEV1"])  # towards SEV1, mostly wrongly


def test_confusion_counts_gold_by_answered_with_an_unparseable_column():
    confusion = transfer.dpo_confusion(REPORTS, {"SFT": SFT, "SFT+DPO": DPO})
    assert list(confusion) == ["SFT", "SFT+DPO", transfer.DIFFERENCE]
    sft, diff = confusion["SFT"], confusion[transfer.DIFFERENCE]
    assert list(sft.columns) == ["SEV1", "SEV2", "SEV3", "SEV4", "unparseable"] and list(sft.index) == list(SEVERITIES)
    assert sft.loc["SEV1", "SEV4"] == 2 and sft.loc["SEV2", "unparseable"] == 1 and int(sft.to_numpy().sum()) == 8
    assert diff.loc["SEV2", "SEV1"] == 2 and diff.loc["SEV2", "SEV2"] == -1 and diff.loc["SEV4", "SEV1"] == 1
    assert int(diff.to_numpy().sum()) == 0
    lines = transfer.confusion_lines(confusion)
    assert lines[0] == "right severity on 8 reports: SFT 5, SFT+DPO 4 (-1)"
    assert "gold SEV2 (3 reports): right 2 -> 1; answers moved: SEV1 +2, SEV2 -1, unparseable -1" in lines
    assert not any("gold SEV3" in line for line in lines)  # no SEV3 reports: no line
    with pytest.raises(ValueError, match="7 answers for 8 reports"):
        transfer.severity_confusion(REPORTS, SFT[:7])
    with pytest.raises(ValueError, match="report 'x': gold severity 'P1'"):
        transfer.severity_confusion([{"id": "x", "severity": "P1"}], SFT[:1])


def test_push_table_sets_the_answers_change_beside_the_pairs_push():
    confusion = transfer.dpo_confusion(REPORTS, {"SFT": SFT, "SFT+DPO": DPO})
    push = transfer.push_table(confusion, {"SEV1": 30, "SEV2": -5, "SEV3": 0, "SEV4": -20, "none": -5})
    assert list(push.columns) == ["SFT", "SFT+DPO", transfer.DIFFERENCE, transfer.RIGHT, transfer.PAIRS]
    assert list(push.loc["SEV1", ["SFT", "SFT+DPO", transfer.DIFFERENCE]]) == [1, 5, 4]
    assert push.loc["SEV1", transfer.RIGHT] == 1  # one of the four extra SEV1 answers is right
    assert push.loc["unparseable", transfer.PAIRS] == -5 and push.loc["unparseable", transfer.RIGHT] == 0
    assert int(push[transfer.DIFFERENCE].sum()) == 0
    assert transfer.PAIRS not in transfer.push_table(confusion)  # no pairs (adapters given by hand): no column


def test_the_confusion_plot_writes_every_count():
    matplotlib.use("Agg")
    confusion = transfer.dpo_confusion(REPORTS, {"SFT": SFT, "SFT+DPO": DPO})
    fig = plots.confusion_change(confusion)
    assert len(fig.axes) == 3 and fig.axes[2].get_title().startswith(transfer.DIFFERENCE)
    texts = [t.get_text() for t in fig.axes[2].texts]
    assert len(texts) == 20 and "+2" in texts and "-1" in texts
    assert {t.get_text() for t in fig.axes[0].texts} >= {"0", "1", "2"}
    plt.close(fig)
