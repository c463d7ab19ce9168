import json
import math

import pandas as pd
import pytest

from helpers import transfer
from helpers.exercises import session_c as ex
from helpers.task import format_answer


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
    push = transfer.push_table(transfer.dpo_confusion(examples, {"SFT": sft, "SFT+DPO": dpo}))
    assert ex.shift_exercise(..., push, mode="reference")[1].ok


def _push(sft: list[str], dpo: list[str], gold: list[str], pairs_push=None):
    reports = [{"id": f"u-{i}", "severity": g} for i, g in enumerate(gold)]
    answers = {name: [format_answer(s, "api", "It broke.") if s else "not JSON" for s in severities]
               for name, severities in (("SFT", sft), ("SFT+DPO", dpo))}
    return transfer.push_table(transfer.dpo_confusion(reports, answers), pairs_push)


GOLD = ["SEV1", "SEV2", "SEV3", "SEV4"] * 2
SFT = ["SEV4", "SEV2", "SEV4", "SEV4", "SEV1", "SEV2", "SEV3", "SEV4"]
PRIOR = {"SEV1": 40, "SEV2": -10, "SEV3": 0, "SEV4": -30}


def test_shift_right_wrong_and_unfilled(capsys):
    push = _push(SFT, ["SEV1", "SEV1", "SEV1", "SEV4", "SEV1", "SEV2", "SEV3", "SEV1"], GOLD, PRIOR)  # SEV1 +4
    answer, verdict = ex.shift_exercise(" sev1 ", push)
    assert verdict.ok and answer == " sev1 " and "SEV1 gained the most answers (+4)" in verdict.message
    assert "+1 on reports whose gold is SEV1 (right), +3 on reports of other severities" in verdict.message
    assert "shift of the answers' prior" in verdict.message
    assert "training pairs, chosen − rejected: SEV1 +40" in verdict.message and "followed that push" in verdict.message
    answer, verdict = ex.shift_exercise("SEV4", push)
    assert verdict.ok is False and answer == "SEV1" and "not SEV4 (SEV4 -3)" in verdict.message
    assert "even one it cannot read" in verdict.hint
    _, verdict = ex.shift_exercise("none", push)
    assert verdict.ok is False and verdict.message.startswith("DPO did move the unseen answers")
    _, verdict = ex.shift_exercise(1, push)
    assert verdict.ok is False and "write one of 'SEV1'" in verdict.message
    answer, verdict = ex.shift_exercise(..., push)
    assert verdict.ok is None and answer == "SEV1"
    assert "✗" in capsys.readouterr().out


def test_shift_that_reads_the_report_and_a_tie():
    reads = _push(SFT, SFT[:2] + ["SEV3"] + SFT[3:], GOLD, PRIOR)  # one SEV3 report now answered SEV3
    _, verdict = ex.shift_exercise("SEV3", reads)
    assert verdict.ok and "SEV3 gained the most answers (+1)" in verdict.message
    assert "most of the move landed on reports of that severity" in verdict.message
    assert "the pairs pushed SEV1 the most: the unseen answers did not follow that push" in verdict.message
    tie = _push(SFT, GOLD, GOLD)  # every answer right: SEV1 +1 and SEV3 +1
    for answer in ("SEV1", "SEV3"):
        _, verdict = ex.shift_exercise(answer, tie)
        assert verdict.ok and "SEV1 and SEV3 gained the most answers (+1)" in verdict.message
        assert "training pairs" not in verdict.message  # no pairs given: nothing said of them


def test_no_change_is_said_and_the_reference_passes():
    push = _push(SFT, SFT, GOLD)  # a smoke run: DPO gives SFT's answers
    answer, verdict = ex.shift_exercise(..., push, mode="reference")
    assert verdict.ok and answer == "none" and "no severity gained answers: DPO gives each as often" in verdict.message
    assert "smoke run" in verdict.message
    _, verdict = ex.shift_exercise("SEV1", push)
    assert verdict.ok is False and verdict.message.startswith("not SEV1: no severity gained answers")
    broken = _push(SFT, [None] + SFT[1:], GOLD)  # one answer lost its format, nothing else moved
    _, verdict = ex.shift_exercise(..., broken, mode="reference")
    assert verdict.ok and "only unparseable answers grew (+1)" in verdict.message and "as often" not in verdict.message
    _, verdict = ex.shift_exercise("SEV1", _push([], [], []))
    assert verdict.ok is None and "no unseen reports" in verdict.message


def _pair(chosen: str, rejected: str) -> dict:
    prompt = [{"role": "system", "content": "Triage."}, {"role": "user", "content": "api down"}]
    return {"id": f"p-{chosen}-{rejected}", "status": "kept", "prompt": prompt,
            "chosen": [{"role": "assistant", "content": format_answer(chosen, "api", "Down.")}],
            "rejected": [{"role": "assistant", "content": format_answer(rejected, "api", "Down.")}]}


def test_pairs_push_reads_the_run_folder_or_says_it_has_none(tmp_path, capsys):
    assert ex.pairs_push(tmp_path) is None and "no preferences.jsonl in" in capsys.readouterr().out
    rows = [_pair("SEV1", "SEV2"), _pair("SEV1", "SEV4"), _pair("SEV3", "SEV1")]
    plain = {"prompt": "api down", "chosen": format_answer("SEV1", "api", "Down."), "rejected": "not JSON"}
    (tmp_path / "preferences.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*rows, plain]))
    assert ex.pairs_push(tmp_path) == {"SEV1": 2, "SEV2": -1, "SEV3": 1, "SEV4": -1, "none": -1}
    (tmp_path / "preferences.jsonl").write_text(json.dumps({"prompt": "x"}) + "\n")
    with pytest.raises(ValueError, match="preferences.jsonl:1: missing key"):
        ex.pairs_push(tmp_path)
