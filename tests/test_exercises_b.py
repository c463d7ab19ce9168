"""Session B's exercises: each check with a right answer, wrong answers (and the explanation they get), and the
unfilled case, on pairs and curves made here."""

import json
import math

import pandas as pd
import pytest

from helpers import preferences as prefs
from helpers.evaluation.answers import collapse_note
from helpers.exercises import session_b as ex_b
from helpers.paths import NOTEBOOK_DIR


def answer(severity, component="payments-api", summary="Checkout fails for all customers.", valid=True):
    text = json.dumps({"severity": severity, "component": component, "summary": summary})
    return text if valid else "Sure! " + text


def pair(i, gold, chosen, rejected, decided_by="severity"):
    return {"id": f"prefs-{i:04d}", "severity": gold, "hard_case": False, "status": "kept", "decided_by": decided_by,
            "score_gap": 4.0, "prompt": [{"role": "user", "content": f"report {i}"}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}]}


def examples(n):
    return [{"id": f"prefs-{i:04d}", "report": f"report {i}: checkout down in all regions", "component": "payments-api",
             "severity": "SEV1"} for i in range(n)]


# 10 course pairs: 6 signal, 1 anti-signal (a malformed right answer lost on format), 2 both wrong, 1 both right
COURSE_PAIRS = ([pair(i, "SEV1", answer("SEV1"), answer("SEV3")) for i in range(6)]
                + [pair(6, "SEV1", answer("SEV2"), answer("SEV1", valid=False), "format")]
                + [pair(i, "SEV1", answer("SEV2"), answer("SEV3", component="x"), "component") for i in (7, 8)]
                + [pair(9, "SEV1", answer("SEV1"), answer("SEV1", summary="Checkout fails at 99:99."),
                        "faithfulness")])


@pytest.fixture(scope="module")
def quality():
    return prefs.quality_report({"two_temperatures": COURSE_PAIRS, "best_vs_worst": COURSE_PAIRS[:6]})


# ----------------------------------------------------------------------------- 1. signal and anti-signal


def test_signal_prediction_within_tolerance_is_right(quality, capsys):
    kept, verdict = ex_b.signal_exercise(0.55, 0.1, quality)
    assert verdict.ok and kept == (0.55, 0.1)
    out = capsys.readouterr().out
    assert out.startswith("✓") and "signal 0.60" in out and "anti-signal 0.10" in out


def test_signal_prediction_too_high_explains_same_severity_samples(quality):
    kept, verdict = ex_b.signal_exercise(0.95, 0.1, quality)
    assert verdict.ok is False and kept == (0.6, 0.1)  # the run's own shares: the answer key
    assert "both samples give the same severity" in verdict.message
    assert "sometimes right by chance and sometimes word salad" in verdict.message


def test_anti_signal_too_low_explains_the_format_rule(quality):
    zero_anti = prefs.quality_report({"two_temperatures": COURSE_PAIRS[6:7] * 4 + COURSE_PAIRS[:6]})
    _, verdict = ex_b.signal_exercise(0.6, 0.0, zero_anti)
    assert verdict.ok is False and "check the format first" in verdict.message


def test_signal_prediction_as_percent_and_half_filled(quality):
    _, verdict = ex_b.signal_exercise(60, 5, quality)
    assert verdict.ok is False and "0.6, not 60" in verdict.message
    _, verdict = ex_b.signal_exercise(0.6, ..., quality)
    assert verdict.ok is False and "predicted_anti_signal is still ..." in verdict.message


def test_signal_unfilled_and_reference(quality, capsys):
    kept, verdict = ex_b.signal_exercise(..., ..., quality)
    assert verdict.ok is None and kept == (0.6, 0.1)
    assert "not filled in yet" in capsys.readouterr().out
    _, verdict = ex_b.signal_exercise(..., ..., quality, mode="reference")
    assert verdict.ok and "(reference answer)" in verdict.message


def test_signal_without_course_pairs_says_so(quality):
    _, verdict = ex_b.signal_exercise(0.6, 0.1, quality[["best_vs_worst"]])
    assert verdict.ok is None and "no kept two_temperatures pairs" in verdict.message
    assert ex_b.reference_prediction(quality[["best_vs_worst"]]) == ex_b.FALLBACK_PREDICTION


# ----------------------------------------------------------------------------- the pairs that teach reading


def record(i, gold, hard, severities):
    temperatures = (0.7, 1.0, 1.2, 1.0)
    return {"id": f"prefs-{i:04d}", "severity": gold, "hard_case": hard,
            "samples": [{"text": answer(s), "temperature": t} for s, t in zip(severities, temperatures, strict=True)]}


# 4 ordinary reports (3 with a right and a wrong answer) and 2 hard cases (1 mixed, 1 always wrong)
READING_RECORDS = ([record(i, "SEV1", False, ["SEV1", "SEV1", "SEV3", "SEV1"]) for i in range(3)]
                   + [record(3, "SEV1", False, ["SEV1"] * 4)]
                   + [record(4, "SEV4", True, ["SEV4", "SEV1", "SEV1", "SEV1"]),
                      record(5, "SEV4", True, ["SEV1"] * 4)])
READING_PAIRS = ([pair(i, "SEV1", answer("SEV1"), answer("SEV3")) for i in range(3)]
                 + [{**pair(4, "SEV4", answer("SEV4"), answer("SEV1")), "hard_case": True},
                    {**pair(5, "SEV4", answer("SEV1"), answer("SEV1", component="x"), "component"),
                     "hard_case": True},
                    {**pair(6, "SEV1", answer("SEV1"), answer("SEV2")), "status": "tie"}])


def test_the_reading_report_counts_per_group_where_pairs_can_teach():
    reading = prefs.reading_report(READING_RECORDS, READING_PAIRS)
    assert reading["ordinary reports: prompts"] == 4 and reading["hard cases: prompts"] == 2
    assert reading["ordinary reports: samples with the right severity"] == pytest.approx(13 / 16)
    assert reading["hard cases: samples with the right severity"] == pytest.approx(1 / 8)
    assert reading["ordinary reports: prompts with a right and a wrong answer"] == pytest.approx(3 / 4)
    assert reading["hard cases: prompts with a right and a wrong answer"] == pytest.approx(1 / 2)
    # a dropped pair and a both-wrong pair teach no severity
    assert reading["ordinary reports: signal pairs DPO trains on"] == 3
    assert reading["hard cases: signal pairs DPO trains on"] == 1
    assert reading["hard cases' share of the signal pairs"] == pytest.approx(1 / 4)
    assert prefs.reading_report(READING_RECORDS, [])["hard cases' share of the signal pairs"] is None


def test_the_reading_exercise_checks_the_hard_share_against_the_run():
    reading = prefs.reading_report(READING_RECORDS, READING_PAIRS)
    kept, verdict = ex_b.reading_exercise(0.3, reading)
    assert verdict.ok is True and kept == 0.3
    assert "hard cases are 0.33 of the prompts and give 0.25 of the signal pairs" in verdict.message
    kept, verdict = ex_b.reading_exercise(0.6, reading)
    assert verdict.ok is False and kept == 0.25
    assert "samples disagree" in verdict.message and "hard cases 0.12, ordinary reports 0.81" in verdict.message
    _, verdict = ex_b.reading_exercise(25, reading)
    assert verdict.ok is False and "(a fraction: 0.6, not 60)" in verdict.message
    kept, verdict = ex_b.reading_exercise(..., reading)
    assert verdict.ok is None and kept == 0.25
    _, verdict = ex_b.reading_exercise(..., reading, mode="reference")
    assert verdict.ok is True
    _, verdict = ex_b.reading_exercise(0.3, prefs.reading_report(READING_RECORDS, []))
    assert verdict.ok is None and "no signal pair" in verdict.message


# ----------------------------------------------------------------------------- 2. label pairs


@pytest.fixture(scope="module")
def items():
    return ex_b.pairs_to_label(COURSE_PAIRS, examples(10), seed=0)


def test_pairs_to_label_mix_the_rules_and_are_seeded(items):
    assert len(items) == ex_b.N_LABEL and [it["number"] for it in items] == [1, 2, 3, 4, 5]
    assert {it["decided_by"] for it in items} == {"severity", "format", "component", "faithfulness"}
    assert items == ex_b.pairs_to_label(COURSE_PAIRS, examples(10), seed=0)
    assert {it["judge"] for it in ex_b.pairs_to_label(COURSE_PAIRS, examples(10), n=10, seed=1)} == {"A", "B"}
    text = ex_b.pairs_text(items)
    assert "pair 1" in text and "report: report" in text and "gold" not in text


def test_fewer_pairs_than_asked():
    assert len(ex_b.pairs_to_label(COURSE_PAIRS[:2], examples(10))) == 2
    assert ex_b.pairs_to_label([], examples(1)) == []
    _, verdict = ex_b.labels_exercise({1: ...}, {1: ...}, [])
    assert verdict.ok is None and "no pairs to label" in verdict.message


def judge_answer(items):
    return ({it["number"]: it["judge"] for it in items},
            {it["number"]: ex_b.RULE_TO_REASON[it["decided_by"]] for it in items})


def test_labels_like_the_judge_are_right(items, capsys):
    labels, reasons = judge_answer(items)
    kept, verdict = ex_b.labels_exercise({k: v.lower() for k, v in labels.items()}, reasons, items)
    assert verdict.ok, verdict.message
    assert "agree with the judge on 5 of 5 choices and 5 of 5 reasons" in capsys.readouterr().out


def test_a_flipped_label_is_explained_with_the_gold_and_the_rule(items):
    labels, reasons = judge_answer(items)
    k = next(it["number"] for it in items if it["decided_by"] == "format")
    labels[k] = "B" if labels[k] == "A" else "A"
    kept, verdict = ex_b.labels_exercise(labels, reasons, items)
    assert verdict.ok is False and kept[0] == judge_answer(items)[0]
    assert "4 of 5 choices" in verdict.message
    assert f"pair {k}: the judge chose" in verdict.message and "decided by format" in verdict.message
    assert "gold SEV1" in verdict.message and "malformed" in verdict.message


def test_a_wrong_reason_is_explained(items):
    labels, reasons = judge_answer(items)
    k = next(it["number"] for it in items if it["decided_by"] == "faithfulness")
    reasons[k] = "severity"
    _, verdict = ex_b.labels_exercise(labels, reasons, items)
    assert verdict.ok is False and f"pair {k}: same choice, but summary decided it, not severity" in verdict.message
    assert "severity (4 points)" in verdict.hint


def test_labels_unfilled_partial_and_invalid(items, capsys):
    blank = {it["number"]: ... for it in items}
    kept, verdict = ex_b.labels_exercise(blank, blank, items)
    assert verdict.ok is None and kept == judge_answer(items)
    _, verdict = ex_b.labels_exercise({1: "A", 2: "C"}, {1: "tone"}, items)
    assert verdict.ok is False and "pair 2: label 'C'" in verdict.message and "pair 3: no label yet" in verdict.message
    _, verdict = ex_b.labels_exercise(blank, blank, items, mode="reference")
    assert verdict.ok and "(reference answer)" in verdict.message


# ----------------------------------------------------------------------------- 3. healthy run


def curves(val=(0.0, 0.05, 0.1, 0.2), kl=(0.0, 0.1, 0.2, 0.3)):
    return pd.DataFrame({"loss": [0.69, 0.6, 0.5, 0.45], "rewards/margins": [0, 0.1, 0.2, 0.3],
                         "eval_rewards/margins": list(val), "eval_kl": list(kl)})


def test_healthy_run_read_right(capsys):
    kept, verdict = ex_b.health_exercise(True, "a", curves(), 5.0)
    assert verdict.ok and kept == (True, "a")
    out = capsys.readouterr().out
    assert "validation gap 0.000 -> 0.200" in out and "too short" not in out
    _, verdict = ex_b.health_exercise(True, "a", curves().iloc[:3], 5.0)
    assert verdict.ok and "only 3 logged steps: too short to say much" in verdict.message


def test_healthy_run_called_unhealthy_or_ln2():
    _, verdict = ex_b.health_exercise(False, "b", curves(), 5.0)
    assert verdict.ok is False and "training_health raised no flag" in verdict.message
    _, verdict = ex_b.health_exercise(True, "e", curves(), 5.0)
    assert verdict.ok is False and "every DPO run starts at ln 2" in verdict.message
    _, verdict = ex_b.health_exercise(True, "c", curves(), 5.0)
    assert verdict.ok is False and "is a trap, not what tells you so" in verdict.message


def test_memorising_run():
    flat = curves(val=(0.0, 0.0, -0.01, -0.02))
    kept, verdict = ex_b.health_exercise(False, "b", flat, 5.0)
    assert verdict.ok and "memorising" in verdict.message
    _, verdict = ex_b.health_exercise(True, "a", flat, 5.0)
    assert verdict.ok is False and "validation gap by only" in verdict.message
    _, verdict = ex_b.health_exercise(False, "c", flat, 5.0)
    assert verdict.ok is False and "the sign is (b)" in verdict.message


def test_exploding_kl_and_nan():
    assert ex_b.health_exercise(False, "c", curves(kl=(0, 0.2, 0.3, 9.0)), 5.0)[1].ok
    nan = curves(kl=(0, 0.1, math.nan, 0.3))
    nan.attrs["non_finite"] = {"eval_kl": [(2, math.nan)]}
    assert ex_b.health_exercise(False, "d", nan, 5.0)[1].ok
    assert ex_b.flag_kind("something new") is None


def test_health_unfilled_bad_types_and_reference():
    kept, verdict = ex_b.health_exercise(..., ..., curves(), 5.0)
    assert verdict.ok is None and kept == (True, "a")
    _, verdict = ex_b.health_exercise("yes", "a", curves(), 5.0)
    assert verdict.ok is False and "True or False" in verdict.message
    _, verdict = ex_b.health_exercise(True, "z", curves(), 5.0)
    assert verdict.ok is False and "one letter of a, b, c, d, e" in verdict.message
    assert ex_b.health_exercise(..., ..., curves(kl=(0, 0.2, 0.3, 9.0)), 5.0, mode="reference")[1].ok


def test_the_notebook_lists_the_health_choices_the_check_uses():
    nb = json.loads((NOTEBOOK_DIR / "02_preferences_and_dpo.ipynb").read_text())
    text = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    for letter in ex_b.HEALTH_CHOICES:
        assert f"**({letter})**" in text, letter


# ----------------------------------------------------------------------------- the SFT collapse note


def test_collapse_note():
    table = pd.DataFrame({"response": [answer("SEV3")] * 4})
    assert collapse_note(table).startswith("collapsed: the SFT model answered SEV3 for 4 of 4")
    mixed = pd.DataFrame({"response": [answer(s) for s in ("SEV1", "SEV2", "SEV3", "SEV3")]})
    assert collapse_note(mixed).startswith("no collapse") and "SEV1 1, SEV2 1, SEV3 2" in collapse_note(mixed)
    assert "no readable severity" in collapse_note(pd.DataFrame({"response": ["salad"]}))
