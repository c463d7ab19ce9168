"""Session B's exercises, each checked against this run's own numbers: predict what the course's two-temperature
pairs teach before the data-quality report, predict how many of the pairs teach reading hard cases, label a few
pairs as the judge would, and read a DPO run's curves.
"""

from __future__ import annotations

import random

from helpers.exercises import core
from helpers.judges.rubric import rubric_faithfulness
from helpers.task import normalize_component, parse_response
from helpers.training import training_health

# ----------------------------------------------------------------------------- 1. predict signal and anti-signal

COURSE = "two_temperatures"  # the course's recipe: answers at 0.7 and 1.2, the judge picks one
SIGNAL_ROW = "signal pairs (chosen right, rejected wrong)"  # rows of preferences.quality_report
ANTI_ROW = "anti-signal pairs (chosen wrong, rejected right)"
BOTH_WRONG_ROW = "both wrong on severity"
BOTH_RIGHT_ROW = "both right on severity"
TOLERANCE = 0.15  # a prediction this close to the run's share counts as right
FALLBACK_PREDICTION = (0.6, 0.05)  # roughly the full profile's shares, where a run has no course pairs to read

WHAT_DRIVES_THE_SHARES = (
    "Both answers are the model's own samples, so a pair carries a severity lesson only when exactly one of them "
    "has the right severity. At 0.7 the answer is close to what the model says greedily; at 1.2 it is sometimes "
    "right by chance and sometimes word salad. Where the model never finds the severity (or always does), both "
    "answers agree and the judge decides on format, component or summary: no severity lesson.")


def _share(quality, row: str) -> float | None:
    if COURSE not in quality or row not in quality.index:
        return None
    value = quality.loc[row, COURSE]
    return None if value != value else float(value)  # NaN: the recipe kept no pair


def _fraction_problem(name: str, value) -> str | None:
    if value is Ellipsis or value is None:
        return f"{name} is still ...: fill in both predictions"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{name} = {value!r}: a number between 0 and 1 (a fraction of the kept pairs)"
    if not 0 <= value <= 1:
        return f"{name} = {value!r} is not between 0 and 1" + (" (a fraction: 0.6, not 60)" if value > 1 else "")
    return None


def check_signal(prediction: tuple, quality) -> core.Verdict:
    """The predicted (signal, anti-signal) shares of the course recipe's kept pairs against this run's report."""
    signal, anti = prediction
    for name, value in (("predicted_signal", signal), ("predicted_anti_signal", anti)):
        if problem := _fraction_problem(name, value):
            return core.wrong(problem, "a share of the kept pairs, e.g. 0.5 for half of them")
    run_signal, run_anti = _share(quality, SIGNAL_ROW), _share(quality, ANTI_ROW)
    if run_signal is None or run_anti is None:
        return core.unfilled(f"this run has no kept {COURSE} pairs to compare with (sample_temperatures needs 0.7 "
                             "and 1.2); nothing to check")
    both_wrong, both_right = _share(quality, BOTH_WRONG_ROW) or 0.0, _share(quality, BOTH_RIGHT_ROW) or 0.0
    facts = (f"this run: signal {run_signal:.2f}, anti-signal {run_anti:.2f}, both wrong {both_wrong:.2f}, "
             f"both right {both_right:.2f}; you predicted {signal:.2f} and {anti:.2f}")
    why = []
    if signal > run_signal + TOLERANCE:
        why.append("fewer signal pairs than you expected: for many prompts both samples give the same severity "
                   "(the both-wrong and both-right rows), and such a pair teaches no severity")
    elif signal < run_signal - TOLERANCE:
        why.append("more signal pairs than you expected: the judge knows the gold severity, so when the two "
                   "answers differ in severity it nearly always picks the right one")
    if anti > run_anti + TOLERANCE:
        why.append("fewer anti-signal pairs than you expected: a judge that reads the gold severity rarely "
                   "prefers a wrong one")
    elif anti < run_anti - TOLERANCE:
        why.append("more anti-signal pairs than you expected: the judge's pairwise rules check the format first, "
                   "so a well-formed answer with a wrong severity beats a malformed one with the right severity")
    if why:
        because = "; ".join(why)
        return core.wrong(f"{facts}. {because[0].upper()}{because[1:]}. {WHAT_DRIVES_THE_SHARES}",
                          "a pair is signal only if exactly one answer has the right severity and the judge picks it")
    return core.right(f"{facts}, within {TOLERANCE} of each. " + WHAT_DRIVES_THE_SHARES)


def reference_prediction(quality) -> tuple[float, float]:
    """The answer key: this run's own (signal, anti-signal) shares of the course recipe, rounded to two places."""
    shares = _share(quality, SIGNAL_ROW), _share(quality, ANTI_ROW)
    return FALLBACK_PREDICTION if None in shares else (round(shares[0], 2), round(shares[1], 2))


def signal_exercise(predicted_signal, predicted_anti_signal, quality, mode: str = "learner"):
    """Check the learner's prediction of the course recipe's signal and anti-signal shares against `quality` (the
    run's quality_report frame); returns (prediction or the reference, verdict)."""
    filled = [core.is_filled(v) for v in (predicted_signal, predicted_anti_signal)]
    answer = (predicted_signal, predicted_anti_signal) if any(filled) else ...
    return core.run_exercise("signal and anti-signal", answer, lambda p: check_signal(p, quality),
                             reference_prediction(quality), mode)


# ----------------------------------------------------------------------------- 2. the pairs that teach reading

HARD_SHARE = "hard cases' share of the signal pairs"  # a key of preferences.reading_report
READING_TOLERANCE = 0.10
WHAT_DRIVES_THE_HARD_SHARE = (
    "A report gives a signal pair only when the model's samples on it disagree on the severity (and the judge "
    "picks the right one), so a group's share of the signal pairs follows its share of the prompts and how often "
    "its samples disagree, not how hard the group is for a person. A hard case the model always gets wrong, or "
    "always right, teaches DPO nothing. A hard-case signal pair is a reading lesson: the familiar cue said one "
    "severity, the impact another, and the chosen answer followed the impact.")


def _reading_facts(reading: dict) -> str:
    prompts = reading["ordinary reports: prompts"] + reading["hard cases: prompts"]
    parts = [f"hard cases are {reading['hard cases: prompts'] / max(prompts, 1):.2f} of the prompts"]
    if reading.get(HARD_SHARE) is not None:
        parts[0] += f" and give {reading[HARD_SHARE]:.2f} of the signal pairs"
    for what in ("samples with the right severity", "prompts with a right and a wrong answer"):
        hard, ordinary = reading.get(f"hard cases: {what}"), reading.get(f"ordinary reports: {what}")
        if hard is not None and ordinary is not None:
            parts.append(f"{what}: hard cases {hard:.2f}, ordinary reports {ordinary:.2f}")
    return "this run: " + "; ".join(parts)


def check_reading(predicted: float, reading: dict) -> core.Verdict:
    """The predicted share of the signal pairs that come from hard cases against this run's reading_report."""
    if problem := _fraction_problem("predicted_hard_share", predicted):
        return core.wrong(problem, "a share of the signal pairs DPO trains on, e.g. 0.5 for half of them")
    actual = reading.get(HARD_SHARE)
    if actual is None:
        return core.unfilled("this run's training pairs hold no signal pair to count; nothing to check")
    facts = f"{_reading_facts(reading)}; you predicted {predicted:.2f}"
    if abs(predicted - actual) > READING_TOLERANCE:
        return core.wrong(f"{facts}. {WHAT_DRIVES_THE_HARD_SHARE}",
                          "start from the hard cases' share of the prompts, then ask how often their samples "
                          "disagree compared with the ordinary reports'")
    return core.right(f"{facts}, within {READING_TOLERANCE}. {WHAT_DRIVES_THE_HARD_SHARE}")


def reading_exercise(predicted_hard_share, reading: dict, mode: str = "learner"):
    """Check the learner's prediction of the hard cases' share of the signal pairs; returns (the prediction or
    this run's share, verdict)."""
    reference = round(reading[HARD_SHARE], 2) if reading.get(HARD_SHARE) is not None else 0.0
    return core.run_exercise("the pairs that teach reading", predicted_hard_share,
                             lambda p: check_reading(p, reading), reference, mode)


# ----------------------------------------------------------------------------- 3. label pairs like the judge

N_LABEL = 5  # pairs shown to label
REASONS = ("severity", "format", "component", "summary")
RULE_TO_REASON = {"severity": "severity", "format": "format", "component": "component", "faithfulness": "summary"}


def pairs_to_label(pairs: list[dict], examples: list[dict], n: int = N_LABEL, seed: int = 0) -> list[dict]:
    """Up to `n` kept pairs to label (fewer when the run kept fewer), drawn in turn from each deciding rule so that
    more than one kind of lesson shows; each with its report (from `examples`, the prompts' split rows) and the two
    answers as A and B in a seeded random order. Pairs decided by one of REASONS' rules come first."""
    rng = random.Random(seed)
    by_id = {e["id"]: e for e in examples}
    kept = [p for p in pairs if p.get("status") == "kept"]
    by_rule: dict[str, list[dict]] = {}
    for p in kept:
        by_rule.setdefault(p.get("decided_by") or "", []).append(p)
    rules = sorted(by_rule)
    rng.shuffle(rules)
    rules.sort(key=lambda r: r not in RULE_TO_REASON)  # stable: the rules a learner can name first, shuffled
    for group in by_rule.values():
        rng.shuffle(group)
    chosen: list[dict] = []
    while len(chosen) < n and any(by_rule[r] for r in rules):
        for rule in rules:
            if by_rule[rule] and len(chosen) < n:
                chosen.append(by_rule[rule].pop())
    items = []
    for number, p in enumerate(chosen, 1):
        chosen_first = rng.random() < 0.5
        texts = (p["chosen"][0]["content"], p["rejected"][0]["content"])
        a, b = texts if chosen_first else texts[::-1]
        example = by_id.get(p["id"], {})
        items.append({"number": number, "id": p["id"], "report": example.get("report", ""), "A": a, "B": b,
                      "judge": "A" if chosen_first else "B", "decided_by": p.get("decided_by") or "",
                      "gold": p["severity"], "component": example.get("component")})
    return items


def pairs_text(items: list[dict]) -> str:
    """The pairs to label as plain text: number, report, answer A, answer B (no gold label, no verdict)."""
    if not items:
        return "this run kept no pairs to label"
    return "\n\n".join(f"pair {it['number']} ({it['id']})\n  report: {it['report']}\n  A: {it['A']}\n  B: {it['B']}"
                       for it in items)


def _describe(text: str, item: dict) -> str:
    """One answer's parts as the rubric judge sees them: severity, format, component, summary."""
    parsed, gold, component = parse_response(text), item["gold"], item["component"]
    parts = [f"{parsed.severity or 'no severity'} ({'right' if parsed.severity == gold else 'wrong'})",
             "well-formed" if parsed.valid else f"malformed ({parsed.reason})"]
    if component:
        right = normalize_component(parsed.component) == normalize_component(component)
        parts.append(f"component {parsed.component!r} ({'right' if right else 'wrong'})")
    if item["report"]:
        faithful, _ = rubric_faithfulness({"report": item["report"]}, text)
        parts.append(f"summary faithful {faithful}/5")
    return ", ".join(parts)


def _rule_text(item: dict) -> str:
    rule = item["decided_by"]
    if rule in RULE_TO_REASON:
        return f"decided by {RULE_TO_REASON[rule]}"
    return f"decided by {rule!r} (no rubric rule: only your choice is compared)" if rule else "no rule recorded"


def check_labels(answer: tuple, items: list[dict]) -> core.Verdict:
    """The learner's labels ("A"/"B") and reasons (REASONS) against the judge's choice and deciding rule."""
    labels, reasons = answer
    if not items:
        return core.unfilled("this run kept no pairs to label; nothing to check")
    labels, reasons = dict(labels or {}), dict(reasons or {})
    problems, notes, agree_label, agree_reason, named = [], [], 0, 0, 0
    for it in items:
        k = it["number"]
        label, reason = labels.get(k, ...), reasons.get(k, ...)
        if label is Ellipsis:
            problems.append(f"pair {k}: no label yet")
            continue
        label = str(label).strip().upper()
        if label not in ("A", "B"):
            problems.append(f"pair {k}: label {labels[k]!r} is not 'A' or 'B'")
            continue
        where = f"gold {it['gold']}; A: {_describe(it['A'], it)}; B: {_describe(it['B'], it)}"
        if label == it["judge"]:
            agree_label += 1
        else:
            notes.append(f"pair {k}: the judge chose {it['judge']} ({_rule_text(it)}; {where})")
        judge_reason = RULE_TO_REASON.get(it["decided_by"])
        if judge_reason is None:
            continue
        named += 1
        if reason is Ellipsis:
            problems.append(f"pair {k}: no reason yet (one of {', '.join(REASONS)})")
        elif str(reason).strip().lower() == judge_reason:
            agree_reason += 1
        elif str(reason).strip().lower() not in REASONS:
            problems.append(f"pair {k}: reason {reason!r} is not one of {', '.join(REASONS)}")
        elif label == it["judge"]:
            notes.append(f"pair {k}: same choice, but {judge_reason} decided it, not {reason} ({where})")
    if problems:
        return core.wrong("; ".join(problems), "fill my_labels with 'A' or 'B' and my_reasons with one of "
                          + ", ".join(map(repr, REASONS)) + " for each pair shown")
    counts = f"you agree with the judge on {agree_label} of {len(items)} choices and {agree_reason} of {named} reasons"
    if not notes:
        return core.right(f"{counts}. The rubric's score puts severity (4 points) above format, component and "
                          "summary together, so a right severity wins whenever the answers' severities differ.")
    rubric = all(it["decided_by"] in RULE_TO_REASON for it in items)
    return core.wrong(f"{counts}.\n  " + "\n  ".join(notes),
                      "the judge's score weighs severity (4 points) above format (1.5), component (1) and a "
                      "faithful summary (1) together: read the report's customer impact, not its tone; where the "
                      "severities agree, the next part that differs decides" if rubric else
                      "this judge scores each answer against the same rubric: severity first, then format, "
                      "component and summary")


def labels_exercise(my_labels, my_reasons, items: list[dict], mode: str = "learner"):
    """Check the learner's labels and reasons for `items` (from pairs_to_label); returns (answer or the judge's
    labels, verdict). Unfilled: every label still `...`."""
    labels = my_labels if isinstance(my_labels, dict) else {}
    filled = any(core.is_filled(labels.get(it["number"], ...)) for it in items)
    reference = ({it["number"]: it["judge"] for it in items},
                 {it["number"]: RULE_TO_REASON.get(it["decided_by"], "severity") for it in items})
    answer = (my_labels, my_reasons) if filled or not items else ...
    return core.run_exercise("your labels vs the judge", answer, lambda a: check_labels(a, items), reference, mode)


# ----------------------------------------------------------------------------- 4. is this run healthy?

HEALTH_CHOICES = {
    "a": "the validation reward gap grows along with the training gap, and KL stays bounded",
    "b": "the training reward gap grows but the validation gap does not",
    "c": "KL(pi_theta || pi_ref) passes the warning level or jumps at the end",
    "d": "a loss, reward gap or KL is NaN or infinite",
    "e": "the loss starts at ln 2 (about 0.693)",
}
WHY_NOT_E = ("every DPO run starts at ln 2: at step 0 the policy is the reference, so every margin is 0 and the "
             "loss is -log sigma(0). That is a sanity check, not a symptom; what matters is whether the gaps grow "
             "and whether KL stays bounded")
WHAT_EACH_MEANS = {
    "a": "the policy learns a preference that holds on pairs it never saw, without drifting far from the SFT model",
    "b": "the policy is fitting these pairs, not learning the preference (memorising)",
    "c": "the policy is drifting from the SFT reference: raise beta or lower the learning rate",
    "d": "the run diverged: lower the learning rate or check the data",
}


SHORT_RUN_STEPS = 4  # fewer logged training steps than this: the curves say little either way


def flag_kind(flag: str) -> str | None:
    """The HEALTH_CHOICES letter a training_health flag stands for (None for a flag of another kind)."""
    if "diverged" in flag:
        return "d"
    if "validation gap" in flag:
        return "b"
    if "KL" in flag:
        return "c"
    return None


def expected_health(curves, kl_warn_nats: float) -> tuple[bool, set[str], list[str]]:
    """(healthy, the letters that describe it, the flags) by training_health's criteria on this run's curves."""
    flags = training_health(curves, kl_warn_nats)
    if not flags:
        return True, {"a"}, []
    kinds = {flag_kind(f) for f in flags} - {None}
    return False, kinds or {"b", "c", "d"}, flags


def _curve_facts(curves) -> str:
    facts = []
    for col, name in (("rewards/margins", "training gap"), ("eval_rewards/margins", "validation gap")):
        s = curves[col].dropna() if col in curves else []
        if len(s):
            facts.append(f"{name} {s.iloc[0]:.3f} -> {s.iloc[-1]:.3f}")
    kl = curves["eval_kl"].dropna() if "eval_kl" in curves else []
    if len(kl):
        facts.append(f"KL max {kl.max():.2f} nats")
    logged = len(curves["rewards/margins"].dropna()) if "rewards/margins" in curves else 0
    short = f" (only {logged} logged steps: too short to say much either way)" if logged < SHORT_RUN_STEPS else ""
    return "this run: " + (", ".join(facts) or "no curves logged") + short


def check_health(answer: tuple, curves, kl_warn_nats: float) -> core.Verdict:
    """The learner's (run_is_healthy, what_tells_you) against training_health's verdict on this run's curves."""
    healthy, letter = answer
    if not isinstance(healthy, bool):
        return core.wrong(f"run_is_healthy = {healthy!r}: True or False", "True when no trap shows in the curves")
    letter = str(letter).strip().lower() if core.is_filled(letter) else ""
    if letter not in HEALTH_CHOICES:
        return core.wrong(f"what_tells_you = {answer[1]!r}: one letter of {', '.join(HEALTH_CHOICES)}",
                          "the letter of the sign you read in the curves")
    expect_healthy, letters, flags = expected_health(curves, kl_warn_nats)
    facts = _curve_facts(curves)
    found = "; ".join(flags) if flags else "training_health raised no flag"
    if letter == "e":
        return core.wrong(f"{WHY_NOT_E}. {facts}; {found}.", "compare the validation gap with the training gap, "
                          "and look at the KL panel")
    if healthy != expect_healthy:
        said = "healthy" if healthy else "unhealthy"
        return core.wrong(f"you called the run {said}, but {found}. {facts}.",
                          "a healthy run: validation gap up with the training gap, KL bounded, nothing NaN")
    if letter not in letters:
        if healthy:
            return core.wrong(f"the run is healthy, but ({letter}) is a trap, not what tells you so. {facts}.",
                              "name the sign of health: " + HEALTH_CHOICES["a"])
        shown = " or ".join(f"({x}) {HEALTH_CHOICES[x]}" for x in sorted(letters))
        return core.wrong(f"unhealthy, yes, but the sign is {shown}: {found}. {facts}.",
                          "read each panel against the traps: validation gap, KL, NaN")
    return core.right(f"({letter}) {WHAT_EACH_MEANS[letter]}. {facts}; {found}.")


def health_exercise(run_is_healthy, what_tells_you, curves, kl_warn_nats: float, mode: str = "learner"):
    """Check the learner's reading of the training curves; returns (answer or the reference, verdict)."""
    expect_healthy, letters, _ = expected_health(curves, kl_warn_nats)
    reference = (expect_healthy, sorted(letters)[0])
    filled = core.is_filled(run_is_healthy) or core.is_filled(what_tells_you)
    answer = (run_is_healthy, what_tells_you) if filled else ...
    return core.run_exercise("is this run healthy?", answer,
                             lambda a: check_health(a, curves, kl_warn_nats), reference, mode)

