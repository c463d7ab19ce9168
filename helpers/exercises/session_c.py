"""Session C's exercises: predict whether the pairwise win is significant at this run's n, diagnose short cases that
combine reward gap, KL, pairwise and held-out numbers (the course's self-assessment), and predict how many pairwise
verdicts the rubric judge's severity rule decided, and predict towards which severity DPO moved the unseen answers.
Each check explains the concept behind a wrong answer.

The case numbers below are exercise data, made up to be typical of each failure, not measurements of a run.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path

from helpers import transfer
from helpers.exercises import core
from helpers.exercises.core import Verdict, right, wrong
from helpers.preferences import read_preferences, severity_push
from helpers.preferences.validation import validate_preferences
from helpers.task import SEVERITIES

PREFERRED = "Preferred (judge pairwise vs SFT)"
ALPHA = 0.05
SHARE_TOLERANCE = 0.15  # a predicted share counts as right within this distance of the measured one


# ----------------------------------------------------------------------------- 1. significance at this n
def _half_width(n: int) -> float:
    """Half the width of a 95% interval of a rate near 1/2 on n prompts: 1.96 * 0.5 / sqrt(n), about 1/sqrt(n)."""
    return 1.96 * 0.5 / math.sqrt(n)


def significance_check(table, alpha: float = ALPHA):
    """The check of `pairwise_significant` (True/False) against the preference row of `table` (three_way_table)."""
    row = table.loc[PREFERRED]
    n, rate, p = int(row["n"]), float(row["SFT+DPO"]), float(row["p (sign)"])
    significant = p < alpha
    hw = _half_width(n)
    interval = f"{100 * row['SFT+DPO low']:.0f}-{100 * row['SFT+DPO high']:.0f}%"
    width = (f"at n = {n} a 95% interval of a win rate near 50% is about ±{100 * hw:.0f} points wide "
             f"(1.96 · 0.5/√n ≈ 1/√n), so only a win rate outside about {100 * (0.5 - hw):.0f}-"
             f"{100 * (0.5 + hw):.0f}% clears it")

    def check(answer) -> Verdict:
        if not isinstance(answer, bool) and type(answer).__name__ != "bool_":
            return wrong(f"pairwise_significant = {answer!r}: answer True or False",
                         "True: the sign test will give p < 0.05; False: it will not")
        said = f"the win rate is {100 * rate:.0f}% [{interval}] on {n} prompts, sign test p = {p:.3f}"
        if bool(answer) == significant:
            return right(f"{said}: {'significant' if significant else 'not significant'} at the 5% level; {width}.")
        if answer:
            return wrong(f"{said}: not significant. {width[0].upper() + width[1:]}; the interval still holds 50%. "
                         f"A 12-point win (the course's example) needs about n = {math.ceil((1 / 0.12) ** 2)} "
                         "prompts to clear it.",
                         "half the interval's width is about 1/√n: compare the win rate's distance from 50% with it")
        return wrong(f"{said}: significant. {width[0].upper() + width[1:]}, and this win is further from 50% than "
                     "that: a large effect clears even a wide interval (see below what decided the verdicts).",
                     "a small n makes the interval wide, not every effect invisible")

    return check, significant


def significance_exercise(pairwise_significant, table, mode: str = "learner"):
    """Check the prediction `pairwise_significant` against this run's preference row; returns (answer, Verdict).
    A run with no judged pairs has nothing to check (said in one line)."""
    title = "Will the pairwise win be significant?"
    core.check_mode(mode)
    row = table.loc[PREFERRED]
    if int(row["n"]) == 0 or math.isnan(float(row["p (sign)"])):
        verdict = Verdict(None, "no judged pairs in this run (every judge call failed?): nothing to check")
        print(verdict.text(title))
        return pairwise_significant, verdict
    check, significant = significance_check(table)
    return core.run_exercise(title, pairwise_significant, check, significant, mode)


# ----------------------------------------------------------------------------- 2. the self-assessment as diagnosis
HAPPENED = {
    "a": "the policy drifted far from the SFT model",
    "b": "the policy barely moved",
    "c": "it fitted the training pairs, not the task (overfitting)",
    "d": "template recall: the gain does not transfer",
    "e": "a circular evaluation: the judge grades its own preferences",
    "f": "noise: the difference fits inside the interval at this n",
    "g": "length exploitation: the judge rewards longer answers",
}
CHANGE = {
    "a": "raise beta (or lower the learning rate, or train fewer steps)",
    "b": "lower beta, or train longer or with a higher learning rate",
    "c": "more and more varied pairs, and stop where the validation gap stops growing",
    "d": "train on more varied reports, and judge the model by the unseen group",
    "e": "evaluate with an independent judge that did not build the pairs",
    "f": "evaluate on more prompts before concluding anything",
    "g": "check the judge for a length bias, and compare answers of similar length",
}
# case: (what the run showed, what happened, what to change, why)
CASES = {
    1: ("training reward gap rising; KL to the SFT model 14 nats; pairwise vs SFT 47%; format-conformance down",
        "a", "a",
        "the reward gap can grow by pushing every answer away from the reference; a KL of 14 nats is far from the "
        "SFT model, and a pairwise rate under 50% says the drift bought nothing. beta is the leash: raise it"),
    2: ("training reward gap grows every step; validation reward gap flat since the first evaluation; KL moderate",
        "c", "c",
        "the training gap measures the pairs the model is fitted on; only the validation gap says it generalises. "
        "A gap that grows on training pairs alone is memorisation: more varied pairs, and stop earlier"),
    3: ("severity match +15 points in-template (p < 0.01); on the unseen scenarios +1 point, interval [-8, +10]",
        "d", "d",
        "the in-template reports share incident types and sentence frames with the training data; the unseen ones "
        "do not. A gain that stays in-template is recall of templates, not triage"),
    4: ("pairwise 60% (p = 0.01), judged by the rubric judge that also built the preference pairs; the severity row "
        "moved by as much", "e", "e",
        "the judge that built the pairs prefers what DPO was trained to prefer, so its pairwise win restates the "
        "training target (here the severity row); only a judge that did not build the pairs can test it"),
    5: ("after 200 steps: reward gap 0.02, KL 0.01 nats, every metric flat", "b", "b",
        "a KL near zero means the policy is still the SFT model: nothing was learned, so no metric can move. beta "
        "too high (or too few steps, too low a learning rate) holds it at the reference"),
    6: ("pairwise 62% on 30 prompts, 95% interval [44%, 80%], sign test p = 0.2", "f", "f",
        "at n = 30 the interval is about ±18 points (≈ 1/√n) and it holds 50%: the win may be noise. More prompts "
        "narrow it (all 140 held-out reports halve it)"),
    7: ("answers 40% longer; the Claude judge's faithfulness score up; severity match flat", "g", "g",
        "when answers grow and only a judge's score rises, the judge may be rewarding length: a verbosity exploit, "
        "not a better triage. Check the judge on answers of similar length"),
}
DIAGNOSIS_REFERENCE = {k: (case[1], case[2]) for k, case in CASES.items()}


def cases_text() -> str:
    """The cases and the two lists of answers, as the learner reads them before filling `diagnosis`."""
    lines = ["What happened?"] + [f"  {k}. {v}" for k, v in HAPPENED.items()]
    lines += ["What to change?"] + [f"  {k}. {v}" for k, v in CHANGE.items()]
    lines += ["Cases:"] + [f"  {k}. {case[0]}" for k, case in CASES.items()]
    return "\n".join(lines)


def show_cases() -> None:
    print(cases_text())


def _letters(value) -> tuple | None:
    """A case's answer as two lower-case letters, or None when it is not (letter, letter)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return None
    if not all(isinstance(v, str) and len(v.strip()) == 1 for v in value):
        return None
    return tuple(v.strip().lower() for v in value)


def _unanswered(value) -> bool:
    return not core.is_filled(value) or (isinstance(value, (tuple, list)) and any(v is Ellipsis for v in value))


def diagnosis_check(answer) -> Verdict:
    """The check of `diagnosis = {case: (what happened, what to change), ...}`: every case, each wrong or missing one
    explained."""
    if not isinstance(answer, dict):
        return wrong(f"diagnosis is a {type(answer).__name__}: write a dict, {{1: ('a', 'b'), 2: ...}}",
                     "one entry per case: (what happened, what to change), each a letter from its list")
    problems, n_right = [], 0
    for k, (shown, happened, change, why) in CASES.items():
        value = answer.get(k, answer.get(str(k), ...))
        if _unanswered(value):
            problems.append(f"case {k}: not answered yet")
            continue
        letters = _letters(value)
        if letters is None:
            problems.append(f"case {k}: {value!r} is not two letters (what happened, what to change)")
            continue
        bad = []
        if letters[0] != happened:
            bad.append(f"what happened is {happened} ({HAPPENED[happened]}), not {letters[0]}")
        if letters[1] != change:
            bad.append(f"what to change is {change} ({CHANGE[change]}), not {letters[1]}")
        if bad:
            problems.append(f"case {k} ({shown}): {'; '.join(bad)}. Why: {why}.")
        else:
            n_right += 1
    if not problems:
        return right(f"all {len(CASES)} cases diagnosed: read reward gap, KL, pairwise and held-out numbers together, "
                     "never one alone")
    return wrong(f"{n_right} of {len(CASES)} cases right.\n  " + "\n  ".join(problems),
                 "KL says how far the policy moved, the validation gap whether it generalises, the unseen group "
                 "whether it transfers, the interval whether it is noise, and who built the pairs whether it is "
                 "circular")


def diagnosis_exercise(diagnosis, mode: str = "learner"):
    """Check the learner's `diagnosis`; returns (what the notebook goes on with, Verdict). A dict whose every answer
    is still `...` counts as not filled in."""
    if isinstance(diagnosis, dict) and diagnosis and all(_unanswered(v) for v in diagnosis.values()):
        diagnosis = ...
    return core.run_exercise("The self-assessment as diagnosis", diagnosis, diagnosis_check, DIAGNOSIS_REFERENCE, mode)


# ----------------------------------------------------------------------------- 3. what decided the pairwise verdicts
def severity_share_check(rules, tolerance: float = SHARE_TOLERANCE):
    """The check of `predicted_severity_share` (a fraction) against `rules` (evaluation.pairwise_rules)."""
    total = int(rules["verdicts"].sum())
    actual = float(rules.loc["severity", "verdicts"]) / total
    others = ", ".join(f"{rule} {int(n)}" for rule, n in rules["verdicts"].items() if rule != "severity" and n)
    measured = (f"the severity rule decided {int(rules.loc['severity', 'verdicts'])} of {total} verdicts "
                f"({100 * actual:.0f}%; the rest: {others or 'none'})")

    def check(answer) -> Verdict:
        if isinstance(answer, bool) or not isinstance(answer, numbers.Real) or not 0 <= answer <= 1:
            hint = "a fraction: 0.4, not 40" if isinstance(answer, numbers.Real) and 1 < answer <= 100 else \
                "a number between 0 and 1"
            return wrong(f"predicted_severity_share = {answer!r}: write a fraction between 0 and 1", hint)
        if abs(answer - actual) <= tolerance:
            return right(f"{measured}. Wherever severity decided, the pairwise row repeats the severity row.")
        if answer < actual:
            return wrong(f"{measured}, more than your {100 * answer:.0f}%. The rubric judge tries the format first, "
                         "and both models nearly always write valid JSON, so the first rule that separates two "
                         "answers is usually the severity; the same rules built DPO's pairs, so that is where DPO "
                         "changed the answers.",
                         "RubricJudge.compare tries format, then severity, then component, faithfulness, length")
        return wrong(f"{measured}, less than your {100 * answer:.0f}%. The severity rule decides only where the two "
                     "models disagree on the severity; where they give the same one, the component, faithfulness "
                     "or length decide, or it is a tie.",
                     "count the prompts where SFT and SFT+DPO give different severities")

    return check, actual


def severity_share_exercise(predicted_severity_share, rules, mode: str = "learner"):
    """Check the prediction against this run's rule counts; returns (answer, Verdict)."""
    title = "What decided the pairwise verdicts?"
    core.check_mode(mode)
    if int(rules["verdicts"].sum()) == 0:
        verdict = Verdict(None, "no pairwise verdicts in this run: nothing to check")
        print(verdict.text(title))
        return predicted_severity_share, verdict
    check, actual = severity_share_check(rules)
    return core.run_exercise(title, predicted_severity_share, check, round(actual, 2), mode)


# ----------------------------------------------------------------------------- 4. where DPO moved the unseen answers
NO_SHIFT = "none"


def pairs_push(run_dir) -> dict | None:
    """Chosen minus rejected per severity in the pairs DPO was trained on (the run folder's preferences.jsonl, written
    by Session B), or None, said in one line, when the run folder has none."""
    path = Path(run_dir) / "preferences.jsonl"
    if not path.is_file():
        print(f"no preferences.jsonl in {path.parent} (adapters given by hand?): the training pairs' push is not "
              "shown beside the answers'")
        return None
    rows, lines = read_preferences(path)
    validate_preferences(rows, source=path, line_numbers=lines)
    return severity_push(rows)


def _signed(values) -> str:
    return ", ".join(f"{k} {int(v):+d}" for k, v in values.items())


def _shift_facts(push) -> tuple[list[str], str, str]:
    """(the severities DPO gave the most extra unseen answers, [] when none gained any; a headline; the numbers
    behind it, one indented line each)."""
    diff = push[transfer.DIFFERENCE]
    n = int(push.iloc[:, 0].sum())
    gains = {s: int(diff[s]) for s in SEVERITIES}
    best = max(gains.values())
    tops = [s for s in SEVERITIES if gains[s] == best] if best > 0 else []
    lines = [f"answers on the {n} unseen reports, DPO − SFT: {_signed(diff)}"]
    if transfer.PAIRS in push:
        lines.append(f"training pairs, chosen − rejected: {_signed(push.loc[list(SEVERITIES), transfer.PAIRS])}")
    if not tops:
        head = "no severity gained answers" + (": DPO gives each as often as SFT did" if not diff.any() else "")
        lines.append("single answers may still have swapped (the matrix above shows them); a short training, such as "
                     "a smoke run's, can leave DPO at the SFT model")
        if int(diff[transfer.UNPARSEABLE]) > 0:
            lines.append(f"only unparseable answers grew ({int(diff[transfer.UNPARSEABLE]):+d}): DPO broke the format "
                         "on some reports")
        return tops, head, "\n  ".join([""] + lines)
    top = tops[0]
    on_right = int(push.loc[top, transfer.RIGHT])
    elsewhere = best - on_right
    head = f"{' and '.join(tops)} gained the most answers ({best:+d})"
    where = (f"of {top}'s {best:+d}: {on_right:+d} on reports whose gold is {top} (right), {elsewhere:+d} on reports "
             "of other severities (wrong)")
    if elsewhere >= on_right:
        where += ": at least half of the move is a shift of the answers' prior, which needs no reading of the report"
    else:
        where += ": most of the move landed on reports of that severity, so DPO read something in them"
    lines.append(where)
    if transfer.PAIRS in push:
        strongest = max(SEVERITIES, key=lambda s: int(push.loc[s, transfer.PAIRS]))
        lines.append(f"the pairs pushed {strongest} the most: the unseen answers "
                     f"{'followed' if strongest in tops else 'did not follow'} that push")
    return tops, head, "\n  ".join([""] + lines)


def shift_check(push):
    """The check of `predicted_shift` ("SEV1".."SEV4", or "none" for no severity gaining answers) against `push`
    (transfer.push_table); returns (check, the reference answer)."""
    tops, head, numbers = _shift_facts(push)
    reference = tops[0] if tops else NO_SHIFT
    choices = (*SEVERITIES, NO_SHIFT)

    def check(answer) -> Verdict:
        said = answer.strip().upper().replace(" ", "") if isinstance(answer, str) else None
        said = NO_SHIFT if said == NO_SHIFT.upper() else said
        if said not in choices:
            return wrong(f"predicted_shift = {answer!r}: write one of {', '.join(map(repr, choices))}",
                         'a severity as a string, e.g. "SEV3"')
        if said in tops or (not tops and said == NO_SHIFT):
            return right(f"{head}.{numbers}")
        if said == NO_SHIFT:
            return wrong(f"DPO did move the unseen answers: {head}.{numbers}",
                         "where the pairs choose a severity more often than they reject it, DPO learns to give it "
                         "more often, on any report")
        if not tops:
            return wrong(f"not {said}: {head}.{numbers}", "compare the two models' answer counts per severity")
        return wrong(f"not {said} ({said} {int(push.loc[said, transfer.DIFFERENCE]):+d}): {head}.{numbers}",
                     "Session B's data report shows how much the pairs choose each severity more often than they "
                     "reject it: DPO can follow that push on any report, even one it cannot read")

    return check, reference


def shift_exercise(predicted_shift, push, mode: str = "learner"):
    """Check the prediction against this run's push on the unseen reports; returns (answer, Verdict)."""
    title = "Where did DPO move the unseen answers?"
    core.check_mode(mode)
    if int(push.iloc[:, 0].sum()) == 0:
        verdict = Verdict(None, "no unseen reports in this run: nothing to check")
        print(verdict.text(title))
        return predicted_shift, verdict
    check, reference = shift_check(push)
    return core.run_exercise(title, predicted_shift, check, reference, mode)
