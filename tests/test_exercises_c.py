import math

import pandas as pd
import pytest

from helpers.exercises import session_c as ex


def table(n, rate, p, low=None, high=None):
    """The preference row of a three_way_table, as far as the check reads it."""
    hw = 1 / math.sqrt(max(n, 1))
    return pd.DataFrame([{"Metric": ex.PREFERRED, "n": n, "SFT+DPO": rate, "SFT+DPO low": low or rate - hw,
                          "SFT+DPO high": high or rate + hw, "p (sign)": p}]).set_index("Metric")


NOT_SIGNIFICANT = table(30, 0.62, 0.2)  # the course's example at n = 30
SIGNIFICANT = table(140, 0.76, 0.0001)


def test_significance_right_wrong_and_unfilled(capsys):
    answer, verdict = ex.significance_exercise(False, NOT_SIGNIFICANT)
    assert verdict.ok and answer is False and "±18 points" in verdict.message and "1/√n" in verdict.message
    answer, verdict = ex.significance_exercise(True, NOT_SIGNIFICANT)
    assert verdict.ok is False and answer is False  # the notebook goes on with the reference
    assert "not significant" in verdict.message and "interval still holds 50%" in verdict.message
    assert "n = 70" in verdict.message and "1/√n" in verdict.hint
    _, verdict = ex.significance_exercise(False, SIGNIFICANT)
    assert verdict.ok is False and "a large effect clears even a wide interval" in verdict.message
    _, verdict = ex.significance_exercise("yes", SIGNIFICANT)
    assert verdict.ok is False and "answer True or False" in verdict.message
    answer, verdict = ex.significance_exercise(..., SIGNIFICANT)
    assert verdict.ok is None and answer is True
    answer, verdict = ex.significance_exercise(..., SIGNIFICANT, mode="reference")
    assert verdict.ok and answer is True
    assert "✗" in capsys.readouterr().out


def test_significance_without_judged_pairs_says_so(capsys):
    _, verdict = ex.significance_exercise(True, table(0, float("nan"), float("nan")))
    assert verdict.ok is None and "no judged pairs" in capsys.readouterr().out


def test_diagnosis_right_wrong_partial_and_unfilled():
    text = ex.cases_text()
    assert "14 nats" in text and "What to change?" in text and all(f"  {k}." in text for k in ex.CASES)
    _, verdict = ex.diagnosis_exercise(ex.DIAGNOSIS_REFERENCE)
    assert verdict.ok and "together" in verdict.message
    answer = {**ex.DIAGNOSIS_REFERENCE, 1: ("f", "f")}  # drift read as noise
    result, verdict = ex.diagnosis_exercise(answer)
    assert verdict.ok is False and result == ex.DIAGNOSIS_REFERENCE
    assert f"{len(ex.CASES) - 1} of {len(ex.CASES)} cases right" in verdict.message
    assert "case 1" in verdict.message and "what happened is a (the policy drifted" in verdict.message
    assert "beta is the leash: raise it" in verdict.message and "KL says how far" in verdict.hint
    _, verdict = ex.diagnosis_exercise({**ex.DIAGNOSIS_REFERENCE, 4: ("E", "f")})  # case-insensitive letters
    assert verdict.ok is False and "what to change is e" in verdict.message and "what happened" not in verdict.message
    assert "only a judge that did not build the pairs" in verdict.message
    _, verdict = ex.diagnosis_exercise({1: ("a", "a"), 2: (..., ...)})
    assert verdict.ok is False and "case 2: not answered yet" in verdict.message
    _, verdict = ex.diagnosis_exercise({**ex.DIAGNOSIS_REFERENCE, 6: "f"})
    assert verdict.ok is False and "not two letters" in verdict.message
    answer, verdict = ex.diagnosis_exercise({k: (..., ...) for k in ex.CASES})
    assert verdict.ok is None and answer == ex.DIAGNOSIS_REFERENCE
    _, verdict = ex.diagnosis_exercise(["a", "a"])
    assert verdict.ok is False and "write a dict" in verdict.message


def rules(severity, tie, fmt=0):
    frame = pd.DataFrame([{"rule": r, "verdicts": n, "SFT+DPO won": n if r != "tie" else 0, "SFT won": 0}
                          for r, n in (("format", fmt), ("severity", severity), ("component", 0),
                                       ("faithfulness", 0), ("concision", 0), ("tie", tie))]).set_index("rule")
    frame["share"] = frame["verdicts"] / frame["verdicts"].sum()
    return frame


def test_severity_share_right_wrong_and_unfilled():
    counts = rules(severity=21, tie=7, fmt=2)  # 70% decided by severity
    answer, verdict = ex.severity_share_exercise(0.6, counts)
    assert verdict.ok and answer == 0.6 and "21 of 30" in verdict.message and "format 2, tie 7" in verdict.message
    _, verdict = ex.severity_share_exercise(0.2, counts)
    assert verdict.ok is False and "tries the format first" in verdict.message
    _, verdict = ex.severity_share_exercise(0.7, rules(severity=3, tie=27))
    assert verdict.ok is False and "only where the two models disagree on the severity" in verdict.message
    _, verdict = ex.severity_share_exercise(70, counts)
    assert verdict.ok is False and verdict.hint == "a fraction: 0.4, not 40"
    answer, verdict = ex.severity_share_exercise(..., counts)
    assert verdict.ok is None and answer == pytest.approx(0.7)
    _, verdict = ex.severity_share_exercise(0.5, rules(0, 0))
    assert verdict.ok is None and "no pairwise verdicts" in verdict.message


def test_the_reference_answers_pass_on_a_real_table():
    from helpers import evaluation as ev
    from helpers.judges import RubricJudge
    from helpers.task import format_answer, load_split

    examples = load_split("eval")[:8]
    sft = [format_answer("SEV4", e["component"], e["summary"]) for e in examples]
    dpo = [format_answer(e["severity"], e["component"], e["summary"]) for e in examples]
    scores = ev.per_prompt_scores(examples, {"Base": sft, "SFT": sft, "SFT+DPO": dpo}, RubricJudge(), progress=False)
    pair = ev.pairwise(examples, sft, dpo, RubricJudge(), progress=False)
    tab = ev.three_way_table(scores, pair, n_boot=200)
    assert ex.significance_exercise(..., tab, mode="reference")[1].ok
    assert ex.severity_share_exercise(..., ev.pairwise_rules(examples, sft, dpo), mode="reference")[1].ok
    assert ex.diagnosis_exercise(..., mode="reference")[1].ok
