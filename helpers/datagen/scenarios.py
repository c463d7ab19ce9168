"""The scenario table: every incident type with its gold severity, component slot, hard-case flag and report
templates, and the split group each scenario and template belongs to.

Split groups: `shared` (sft, prefs and eval), `unseen` (held out for the unseen split, the test split) and `dev`
(held out for dev_unseen, where recipes and settings are chosen). A template is held out for a group when its
scenario is, when its surface form is (`surfaces.FORM_GROUP`), or when it carries the group's mark as a third
element, (report, summary, "unseen" | "dev"): a held-out phrasing of a seen scenario.

The report text lives in `sev1.py` .. `sev4.py` (one file per severity). A template's id is
`<scenario>/<form>/<n>` (n from 1 within its scenario and form), stable as long as templates are only appended.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from helpers.datagen import sev1, sev2, sev3, sev4
from helpers.datagen.surfaces import FORM_GROUP, FORMS, OPENERS
from helpers.datagen.vocab import CUES, NAMES, SERVICE_SLOTS

SHARED = "shared"
GROUPS = (SHARED, "unseen", "dev")  # the split groups; every slot pool has one list per group
HELD_OUT_GROUPS = GROUPS[1:]

# Incident types only one held-out group has: two per severity, one of them a hard case.
HELD_OUT_SCENARIOS: dict[str, tuple[str, ...]] = {
    "unseen": ("double_charge", "few_records_lost", "platform_outage", "region_outage_alarming_words",
               "single_tenant_errors", "big_count_small_share", "expiry_warning", "false_alarm_probe"),
    "dev": ("public_backup", "few_complaints_outage", "carrier_unreachable", "one_shard_down",
            "old_client_version", "loud_escalation_minor", "planned_load_test", "test_accounts_purged"),
}


@dataclass(frozen=True)
class Template:
    """One report template and the gold summary template that goes with it."""

    id: str
    scenario: str
    form: str
    report: str
    summary: str
    group: str  # the split group that may use it: shared, or held out (by its scenario, form or phrasing)


@dataclass(frozen=True)
class Scenario:
    """One incident type: its label is the same for every report it produces."""

    name: str
    severity: str
    component: str  # the slot that holds the service the report is about
    hard: bool
    group: str  # shared, or the held-out group that alone has this incident type
    templates: tuple[Template, ...]


def slot_names(template: str) -> set[str]:
    """The {slots} a template fills."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def _check(scenario: Scenario) -> None:
    """A template whose summary could state a fact its report lacks is a bug in the table: fail at import."""
    for t in scenario.templates:
        in_report, in_summary = slot_names(t.report), slot_names(t.summary)
        problems = []
        if scenario.component not in in_report:
            problems.append(f"the report does not name the component slot {scenario.component!r}")
        if not in_summary <= in_report:
            problems.append(f"the summary uses slots the report lacks: {sorted(in_summary - in_report)}")
        if in_summary & (set(CUES) | {"open"}):
            problems.append("the summary uses a cue or opener slot")
        if problems:
            raise ValueError(f"template {t.id}: " + "; ".join(problems))


def _check_pools() -> None:
    """Every slot pool has one list per group, and no phrasing or name is in two groups."""
    for where, pools in (("vocab.NAMES", NAMES), ("vocab.CUES", CUES), ("surfaces.OPENERS", OPENERS)):
        for key, pool in pools.items():
            if tuple(pool) != GROUPS:
                raise ValueError(f"{where}[{key!r}] must have the lists {GROUPS}, has {tuple(pool)}")
            values = [v for group in GROUPS for v in pool[group]]
            if len(set(values)) != len(values):
                raise ValueError(f"{where}[{key!r}]: a value is in two groups or twice in one")


def _template_group(scenario: str, scenario_group: str, form: str, mark: list) -> str:
    """The group of one template: held out by its scenario, its form or its mark, else shared; two different
    held-out groups for one template is a bug in the table."""
    if mark not in ([], *([g] for g in HELD_OUT_GROUPS)):
        raise ValueError(f"scenario {scenario}: a template is (report, summary[, one of {HELD_OUT_GROUPS}])")
    held = {scenario_group, FORM_GROUP.get(form, SHARED), *mark} - {SHARED}
    if len(held) > 1:
        raise ValueError(f"scenario {scenario}: a {form} template is held out for several groups {sorted(held)}")
    return held.pop() if held else SHARED


def _build() -> tuple[Scenario, ...]:
    _check_pools()
    if set(FORM_GROUP.values()) - set(HELD_OUT_GROUPS) or set(HELD_OUT_SCENARIOS) != set(HELD_OUT_GROUPS):
        raise ValueError(f"held-out forms and scenarios must name the groups {HELD_OUT_GROUPS}")
    group_of = {name: g for g, names in HELD_OUT_SCENARIOS.items() for name in names}
    table = []
    for module, severity in ((sev1, "SEV1"), (sev2, "SEV2"), (sev3, "SEV3"), (sev4, "SEV4")):
        for name, component, hard, forms in module.SCENARIOS:
            if component not in SERVICE_SLOTS:
                raise ValueError(f"scenario {name}: component slot {component!r} is not a service slot")
            group = group_of.get(name, SHARED)
            templates = []
            for form, pairs in forms.items():
                if form not in FORMS:
                    raise ValueError(f"scenario {name}: unknown surface form {form!r}")
                for i, (report, summary, *mark) in enumerate(pairs, 1):
                    templates.append(Template(f"{name}/{form}/{i}", name, form, report, summary,
                                              _template_group(name, group, form, mark)))
            scenario = Scenario(name, severity, component, hard, group, tuple(templates))
            _check(scenario)
            table.append(scenario)
    names = [s.name for s in table]
    if len(set(names)) != len(names):
        raise ValueError("scenario names must be unique")
    if not set(group_of) <= set(names):
        raise ValueError(f"held-out scenarios missing from the table: {set(group_of) - set(names)}")
    return tuple(table)


SCENARIOS: tuple[Scenario, ...] = _build()
BY_NAME: dict[str, Scenario] = {s.name: s for s in SCENARIOS}
TEMPLATES: dict[str, Template] = {t.id: t for s in SCENARIOS for t in s.templates}


def templates_for(scenario: Scenario, group: str) -> list[Template]:
    """The templates a split group may use for a scenario: a held-out group only its own held-out ones, the shared
    group only the shared ones (in table order, so adding templates of one group changes no other group's list)."""
    return [t for t in scenario.templates if t.group == group]


def scenario_table() -> list[dict]:
    """One row per scenario (for the README and notebooks): name, severity, hard case, group, templates."""
    return [{"scenario": s.name, "severity": s.severity, "hard_case": s.hard, "group": s.group,
             "templates": len(s.templates), "forms": sorted({t.form for t in s.templates})} for s in SCENARIOS]
