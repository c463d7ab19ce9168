"""The scenario table: every incident type with its gold severity, component slot, hard-case flag and report
templates, and which scenarios and templates are held out for the unseen split.

The report text lives in `sev1.py` .. `sev4.py` (one file per severity). A template's id is
`<scenario>/<form>/<n>` (n from 1 within its scenario and form), stable as long as templates are only appended.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from helpers.datagen import sev1, sev2, sev3, sev4
from helpers.datagen.surfaces import FORMS, HELD_OUT_FORMS
from helpers.datagen.vocab import CUES, SERVICE_SLOTS

# Incident types that only the unseen split has: two per severity, one of them a hard case.
HELD_OUT_SCENARIOS = ("double_charge", "few_records_lost", "platform_outage", "region_outage_alarming_words",
                      "single_tenant_errors", "big_count_small_share", "expiry_warning", "false_alarm_probe")


# A third element "unseen" marks a template of a seen scenario as a held-out phrasing (unseen split only).
HELD_OUT_PHRASING = "unseen"


@dataclass(frozen=True)
class Template:
    """One report template and the gold summary template that goes with it."""

    id: str
    scenario: str
    form: str
    report: str
    summary: str
    unseen_only: bool  # used only by the unseen split (a held-out scenario, surface form or phrasing)


@dataclass(frozen=True)
class Scenario:
    """One incident type: its label is the same for every report it produces."""

    name: str
    severity: str
    component: str  # the slot that holds the service the report is about
    hard: bool
    held_out: bool
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


def _build() -> tuple[Scenario, ...]:
    table = []
    for module, severity in ((sev1, "SEV1"), (sev2, "SEV2"), (sev3, "SEV3"), (sev4, "SEV4")):
        for name, component, hard, forms in module.SCENARIOS:
            if component not in SERVICE_SLOTS:
                raise ValueError(f"scenario {name}: component slot {component!r} is not a service slot")
            held = name in HELD_OUT_SCENARIOS
            templates = []
            for form, pairs in forms.items():
                if form not in FORMS:
                    raise ValueError(f"scenario {name}: unknown surface form {form!r}")
                for i, (report, summary, *mark) in enumerate(pairs, 1):
                    if mark not in ([], [HELD_OUT_PHRASING]):
                        raise ValueError(f"scenario {name}: a template is (report, summary[, {HELD_OUT_PHRASING!r}])")
                    unseen_only = held or form in HELD_OUT_FORMS or bool(mark)
                    templates.append(Template(f"{name}/{form}/{i}", name, form, report, summary, unseen_only))
            scenario = Scenario(name, severity, component, hard, held, tuple(templates))
            _check(scenario)
            table.append(scenario)
    names = [s.name for s in table]
    if len(set(names)) != len(names):
        raise ValueError("scenario names must be unique")
    if not set(HELD_OUT_SCENARIOS) <= set(names):
        raise ValueError(f"held-out scenarios missing from the table: {set(HELD_OUT_SCENARIOS) - set(names)}")
    return tuple(table)


SCENARIOS: tuple[Scenario, ...] = _build()
BY_NAME: dict[str, Scenario] = {s.name: s for s in SCENARIOS}
TEMPLATES: dict[str, Template] = {t.id: t for s in SCENARIOS for t in s.templates}


def templates_for(scenario: Scenario, unseen: bool) -> list[Template]:
    """The templates a split may use for a scenario: the unseen split only the held-out ones, the others only
    the rest."""
    return [t for t in scenario.templates if t.unseen_only == unseen]


def scenario_table() -> list[dict]:
    """One row per scenario (for the README and notebooks): name, severity, hard case, held out, templates."""
    return [{"scenario": s.name, "severity": s.severity, "hard_case": s.hard, "held_out": s.held_out,
             "templates": len(s.templates), "forms": sorted({t.form for t in s.templates})} for s in SCENARIOS]
