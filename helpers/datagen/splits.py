"""Which scenarios and templates each split may use, and the generation of all splits from one seeded generator.

sft, prefs and eval share the seen scenarios, seen templates and shared slot values (eval is the in-template
group). The two held-out splits, unseen (the test split, scored once) and dev_unseen (where recipes and settings
are chosen), are built the same way, each from its own split group: its held-out scenarios, its held-out
templates of the seen scenarios (a whole surface form plus a few phrasings), its own cue phrasings and openers,
and service names and regions from the shared pool plus its own held-out names. Half of every held-out
severity comes from held-out scenarios, half from seen scenarios in held-out templates. Classes are exactly
balanced when a split's size is a multiple of 4; scenarios take turns within a severity so each appears about
equally often. dev_unseen is generated after the others from the same generator, so adding it changed no byte
of them.
"""

from __future__ import annotations

import random

from helpers import checks
from helpers.datagen.scenarios import SCENARIOS, SHARED, Scenario, Template, templates_for
from helpers.datagen.surfaces import opener
from helpers.datagen.vocab import SERVICE_SLOTS, draw_slots
from helpers.task import SEVERITIES, SPLITS

SEED = 20261127
SPLIT_SIZES = {"sft": 500, "prefs": 680, "eval": 140, "unseen": 120, "dev_unseen": 120}
# Rows appended to the held-out splits, drawn after every split above (so no earlier byte changes): 360 reports
# each, so a paired test can tell a DPO gain of about +0.07 from none (120 reports needed about +0.10).
SPLIT_EXTENSIONS = {"unseen": 240, "dev_unseen": 240}
# The split group each split draws its scenarios, templates and slot values from (scenarios.GROUPS).
SPLIT_GROUP = {"sft": SHARED, "prefs": SHARED, "eval": SHARED, "unseen": "unseen", "dev_unseen": "dev"}
if tuple(SPLIT_GROUP) != SPLITS:
    raise ValueError(f"SPLIT_GROUP must name the splits {SPLITS} in order")
MAX_TRIES = 200  # draws per row before giving up on finding a report text not used yet


def _sentence(template: str, slots: dict) -> str:
    """Fill a summary template; capitalise its first letter unless it starts with a service name."""
    text = template.format(**slots)
    starts_with_service = template.startswith(tuple("{" + s + "}" for s in SERVICE_SLOTS))
    return text if starts_with_service else text[:1].upper() + text[1:]


def fill(template: Template, scenario: Scenario, rng: random.Random, group: str) -> dict:
    """One labelled example (without its id) from a template, with slot values freshly drawn for a split group."""
    slots = draw_slots(rng, group)
    slots["open"] = opener(rng, template.form, slots, group)
    return {
        "report": template.report.format(**slots),
        "severity": scenario.severity,
        "component": slots[scenario.component],
        "summary": _sentence(template.summary, slots),
        "scenario": scenario.name,
        "hard_case": scenario.hard,
        "template": template.id,
    }


def make_example(rng: random.Random, severity: str, split: str = "sft") -> dict:
    """One labelled report of the given severity, from the scenarios and templates `split` may use."""
    checks.choice("severity", severity, SEVERITIES)
    checks.choice("split", split, SPLITS)
    group = SPLIT_GROUP[split]
    candidates = [s for s in SCENARIOS if s.severity == severity and s.group in (SHARED, group)]
    scenario = rng.choice([s for s in candidates if templates_for(s, group)])
    return fill(rng.choice(templates_for(scenario, group)), scenario, rng, group)


def scenario_groups(split: str, severity: str, rng: random.Random) -> list[list[Scenario]]:
    """The groups of scenarios a split's rows of one severity take turns over, each group in a shuffled order:
    one group (the seen scenarios) for sft/prefs/eval; two for a held-out split (its held-out scenarios, then
    seen scenarios in its held-out templates)."""
    group = SPLIT_GROUP[split]
    of_sev = [s for s in SCENARIOS if s.severity == severity]
    if group == SHARED:
        groups = [[s for s in of_sev if s.group == SHARED]]
    else:
        groups = [[s for s in of_sev if s.group == group],
                  [s for s in of_sev if s.group == SHARED and templates_for(s, group)]]
    for members in groups:
        rng.shuffle(members)
    return [g for g in groups if g]


def _check_sizes(sizes) -> dict:
    if not isinstance(sizes, dict) or not sizes:
        raise checks.ParameterError(f"sizes must be a non-empty dict of split name -> size, got {checks.show(sizes)}")
    for name, size in sizes.items():
        if name not in SPLITS:
            raise checks.ParameterError(f"sizes names an unknown split {name!r}; the splits are {', '.join(SPLITS)}")
        checks.count(f"sizes[{name!r}]", size)
    return sizes


def _draw_rows(name: str, size: int, rng: random.Random, used: set[str]) -> list[dict]:
    """`size` examples for split `name`, balanced over severities, scenarios taking turns, report texts not in
    `used` (which they are added to), in a shuffled order, without ids."""
    group = SPLIT_GROUP[name]
    groups = {sev: scenario_groups(name, sev, rng) for sev in SEVERITIES}
    turns = {sev: 0 for sev in SEVERITIES}
    rows = []
    for i in range(size):
        severity = SEVERITIES[i % len(SEVERITIES)]  # balanced classes
        k, turns[severity] = turns[severity], turns[severity] + 1
        members = groups[severity][k % len(groups[severity])]
        scenario = members[(k // len(groups[severity])) % len(members)]
        for _ in range(MAX_TRIES):
            row = fill(rng.choice(templates_for(scenario, group)), scenario, rng, group)
            if row["report"] not in used:
                break
        else:
            raise RuntimeError(f"scenario {scenario.name} is too narrow to give another distinct report")
        used.add(row["report"])
        rows.append(row)
    rng.shuffle(rows)
    return rows


def generate(seed: int = SEED, sizes: dict | None = None, extensions: dict | None = None) -> dict[str, list[dict]]:
    """All splits (in SPLITS order), as lists of examples. Report texts are distinct across the whole dataset.
    `extensions` (SPLIT_EXTENSIONS when `sizes` is not given, else none) are rows drawn after all the splits and
    appended to theirs, ids continuing."""
    checks.integer("seed", seed)
    if extensions is None:
        extensions = SPLIT_EXTENSIONS if sizes is None else {}
    sizes = _check_sizes(SPLIT_SIZES if sizes is None else sizes)
    if extensions and not set(extensions) <= set(sizes):
        extra = sorted(set(extensions) - set(sizes))
        raise checks.ParameterError(f"extensions name splits that are not generated: {extra}")
    rng = random.Random(seed)
    used: set[str] = set()
    splits: dict[str, list[dict]] = {}
    for name in (s for s in SPLITS if s in sizes):
        rows = _draw_rows(name, sizes[name], rng, used)
        splits[name] = [{"id": f"{name}-{i:04d}", **row} for i, row in enumerate(rows)]
    for name in (s for s in SPLITS if s in extensions):
        start, size = len(splits[name]), checks.count(f"extensions[{name!r}]", extensions[name])
        splits[name] += [{"id": f"{name}-{start + i:04d}", **row}
                         for i, row in enumerate(_draw_rows(name, size, rng, used))]
    return splits
