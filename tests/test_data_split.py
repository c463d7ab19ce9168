"""The held-out splits do not leak: unseen (the test split) and dev_unseen (the split recipes are chosen on) each
have scenarios, templates, template sentences, cue phrasings, openers and names that appear in no other split,
training or the other held-out one; and the shipped data is balanced, labelled from the scenario table and
faithful."""

import random
import re
import string
from collections import Counter

import pytest

from helpers import datagen, task
from helpers.datagen import vocab
from helpers.datagen.scenarios import BY_NAME, GROUPS, HELD_OUT_SCENARIOS, SHARED, TEMPLATES, Template
from helpers.datagen.splits import SPLIT_GROUP, make_example
from helpers.datagen.surfaces import FORM_GROUP, OPENERS
from helpers.judges.rubric import rubric_faithfulness, unsupported_facts

SHINGLE = 6  # words: a run this long of a template's own (non-slot) text is a phrasing, not a common phrase
TRAINING_SPLITS = ("sft", "prefs", "eval")
HELD_OUT_SPLITS = ("unseen", "dev_unseen")


@pytest.fixture(scope="module")
def splits():
    return {name: task.load_split(name) for name in task.SPLITS}


@pytest.fixture(scope="module")
def training_rows(splits):
    return [e for name in TRAINING_SPLITS for e in splits[name]]


def others(splits, name: str) -> list[dict]:
    """Every row outside split `name`: training and the other held-out split."""
    return [e for other, rows in splits.items() if other != name for e in rows]


def group_templates(group: str) -> dict[str, str]:
    return {t.id: t.report for t in TEMPLATES.values() if t.group == group}


def other_templates(group: str) -> dict[str, str]:
    return {t.id: t.report for t in TEMPLATES.values() if t.group != group}
# ----------------------------------------------------------------------------- the leak checks themselves


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9%']+", text.lower())


def _shingles(words: list[str], n: int = SHINGLE) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def literal_shingles(template: str, n: int = SHINGLE) -> set[tuple[str, ...]]:
    """Word n-grams of a template's literal text; none spans a {slot}, so slot values never count."""
    out: set[tuple[str, ...]] = set()
    for literal, *_ in string.Formatter().parse(template):
        out |= _shingles(_words(literal), n)
    return out


def template_leaks(unseen_templates: dict[str, str], training_templates: dict[str, str], n: int = SHINGLE) -> list:
    """(unseen template id, shared n-gram) for each literal n-gram an unseen template shares with a training one."""
    seen: set[tuple[str, ...]] = set()
    for text in training_templates.values():
        seen |= literal_shingles(text, n)
    return sorted((tid, " ".join(s)) for tid, text in unseen_templates.items()
                  for s in literal_shingles(text, n) & seen)


def report_leaks(unseen_reports: dict[str, str], training_templates: dict[str, str], n: int = SHINGLE) -> list:
    """(report id, shared n-gram) for each n-gram of an unseen report's text that is literal text of a training
    template: the text-level check, which needs no knowledge of the report's own template."""
    seen: set[tuple[str, ...]] = set()
    for text in training_templates.values():
        seen |= literal_shingles(text, n)
    return sorted((rid, " ".join(s)) for rid, text in unseen_reports.items() for s in _shingles(_words(text), n) & seen)


def shared(rows_a: list[dict], rows_b: list[dict], key: str) -> set:
    return {e[key] for e in rows_a} & {e[key] for e in rows_b}


TOY_TRAIN = {"a/pager/1": "{open} {svc} is down for the whole company since {time}; nobody can work."}
TOY_LEAK = {"b/postmortem/1": "{open} in the review, {svc} is down for the whole company since {time}, again."}
TOY_CLEAN = {"b/postmortem/1": "{open} the review found {svc} had stopped serving staff at {time}."}


def test_the_leak_checks_catch_a_deliberately_leaking_toy_split():
    leaked = ["down for the whole company since", "is down for the whole company"]
    assert template_leaks(TOY_LEAK, TOY_TRAIN) == [("b/postmortem/1", s) for s in leaked]
    assert template_leaks(TOY_CLEAN, TOY_TRAIN) == []
    leaky_report = {"unseen-0000": "Retro: in the review, web-api is down for the whole company since 10:00 UTC."}
    assert report_leaks(leaky_report, TOY_TRAIN) == [("unseen-0000", s) for s in leaked]
    assert report_leaks({"unseen-0000": "Retro: web-api had stopped serving staff at 10:00 UTC."}, TOY_TRAIN) == []
    # a slot value between two literal runs does not make a shared n-gram
    assert literal_shingles("{a} one two three {b} four five six seven") == set()
    train = [{"scenario": "x", "template": "x/pager/1"}]
    assert shared([{"scenario": "x", "template": "x/chat/1"}], train, "scenario") == {"x"}
    assert shared([{"scenario": "y", "template": "y/chat/1"}], train, "template") == set()


def _opener_regex(opener: str) -> str:
    return re.escape(opener).replace(re.escape("{tk}"), r"\d+")


def _slot_pattern(name: str) -> str | None:
    """A regex for every value a slot can take in any group (longest first), or None for a free slot (numbers...)."""
    values = None
    if name in vocab.NAMES:
        values = [v for g in GROUPS for v in vocab.NAMES[name][g]]
    elif name in vocab.CUES:
        values = [v for g in GROUPS for v in vocab.CUES[name][g]]
    if values is None:
        return None
    return "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))


def parse_slots(template: Template, report: str) -> dict[str, str]:
    """The cue, name and opener values a report was filled with, read back against its own template."""
    openers = sorted((v for g in GROUPS for v in OPENERS[template.form][g]), key=len, reverse=True)
    opener_re = "|".join(_opener_regex(v) for v in openers)
    regex, seen = "", set()
    for literal, field, _, _ in string.Formatter().parse(template.report):
        regex += re.escape(literal)
        if not field:
            continue
        if field in seen:
            regex += f"(?P={field})"
            continue
        seen.add(field)
        pattern = opener_re if field == "open" else _slot_pattern(field)
        regex += f"(?P<{field}>{pattern or '.+?'})"
    match = re.fullmatch(regex, report)
    assert match, (template.id, report)
    return {k: v for k, v in match.groupdict().items() if k == "open" or k in vocab.CUES or k in vocab.NAMES}


def _opener_group(form: str, text: str) -> set[str]:
    return {g for g in GROUPS for v in OPENERS[form][g] if re.fullmatch(_opener_regex(v), text)}


def test_parse_slots_reads_the_values_back():
    t = TEMPLATES["region_outage/chat/1"]
    report = t.report.format(open="yo,", svc="search-api", only_in="strictly in", region="eu-north-1",
                             err="HTTP 502", others_ok="the other regions are fine")
    assert parse_slots(t, report) == {"open": "yo,", "svc": "search-api", "only_in": "strictly in",
                                      "region": "eu-north-1", "others_ok": "the other regions are fine"}
    assert _opener_group("ticket", "OPS-4521:") == {"dev"} and _opener_group("chat", "yo,") == {SHARED}


# ----------------------------------------------------------------------------- no leak into the held-out splits


def test_the_split_groups_are_one_mechanism():
    assert SPLIT_GROUP == {"sft": SHARED, "prefs": SHARED, "eval": SHARED, "unseen": "unseen", "dev_unseen": "dev"}
    assert tuple(SPLIT_GROUP) == task.SPLITS and task.SPLITS.index("dev_unseen") == task.SPLITS.index("unseen") + 1
    for pools in (vocab.NAMES, vocab.CUES, OPENERS):  # (shared, unseen, dev) lists, no value in two groups
        for key, pool in pools.items():
            assert tuple(pool) == GROUPS, key
            values = [v for g in GROUPS for v in pool[g]]
            assert len(set(values)) == len(values), key
    for name, pool in (*vocab.NAMES.items(), *vocab.CUES.items()):
        assert pool["dev"], name  # every name pool and every cue vocabulary has dev-only values
    for form, pool in OPENERS.items():
        assert bool(pool["dev"]) == (FORM_GROUP.get(form) in (None, "dev")), form
    assert set(HELD_OUT_SCENARIOS["unseen"]).isdisjoint(HELD_OUT_SCENARIOS["dev"])
    assert sorted(set(FORM_GROUP.values())) == ["dev", "unseen"]


@pytest.mark.parametrize("split", HELD_OUT_SPLITS)
def test_held_out_scenarios_are_only_in_their_split(splits, split):
    group = SPLIT_GROUP[split]
    assert set(HELD_OUT_SCENARIOS[group]) <= {e["scenario"] for e in splits[split]}
    assert not {e["scenario"] for e in others(splits, split)} & set(HELD_OUT_SCENARIOS[group])
    for sev in task.SEVERITIES:  # two per severity, one of them a hard case
        held = [BY_NAME[s] for s in HELD_OUT_SCENARIOS[group] if BY_NAME[s].severity == sev]
        assert len(held) == 2 and sum(s.hard for s in held) == 1, (split, sev)
    assert all(BY_NAME[s].group == group for s in HELD_OUT_SCENARIOS[group])
    # half of every severity from held-out scenarios
    for sev in task.SEVERITIES:
        rows = [e for e in splits[split] if e["severity"] == sev]
        assert sum(BY_NAME[e["scenario"]].group == group for e in rows) == len(rows) // 2, (split, sev)


@pytest.mark.parametrize("split", HELD_OUT_SPLITS)
def test_held_out_templates_are_only_in_their_split(splits, split):
    group = SPLIT_GROUP[split]
    assert not shared(splits[split], others(splits, split), "template")
    for name, rows in splits.items():
        for e in rows:
            assert TEMPLATES[e["template"]].group == SPLIT_GROUP[name], e["id"]
    # seen incident types in held-out phrasings, in every severity
    seen_here = [e for e in splits[split] if BY_NAME[e["scenario"]].group == SHARED]
    assert {e["severity"] for e in seen_here} == set(task.SEVERITIES)
    # held out for seen scenarios: a whole surface form, and some phrasings in the ordinary forms
    whole_forms = [f for f, g in FORM_GROUP.items() if g == group]
    assert len(whole_forms) == 1 and any(e["template"].split("/")[1] in whole_forms for e in seen_here)
    assert not any(e["template"].split("/")[1] in whole_forms for e in others(splits, split))
    for sev in task.SEVERITIES:
        assert any(t.group == group and t.form not in FORM_GROUP and BY_NAME[t.scenario].group == SHARED
                   and BY_NAME[t.scenario].severity == sev for t in TEMPLATES.values()), (split, sev)


def test_dev_and_unseen_phrasings_are_for_different_seen_scenarios():
    def phrased(group):
        return {t.scenario for t in TEMPLATES.values()
                if t.group == group and t.form not in FORM_GROUP and BY_NAME[t.scenario].group == SHARED}
    assert len(phrased("unseen")) >= 8 and len(phrased("dev")) >= 8
    assert phrased("unseen").isdisjoint(phrased("dev"))


@pytest.mark.parametrize("group", ["unseen", "dev"])
def test_no_template_sentence_of_a_held_out_group_appears_in_any_other_template(splits, training_rows, group):
    # every held-out template in the table, used or not, against every template of the other groups
    assert template_leaks(group_templates(group), other_templates(group)) == []
    split = next(s for s, g in SPLIT_GROUP.items() if g == group)
    used = {t: TEMPLATES[t].report for t in {e["template"] for e in splits[split]}}
    training = {t: TEMPLATES[t].report for t in {e["template"] for e in training_rows}}
    assert template_leaks(used, training) == []


@pytest.mark.parametrize("split", HELD_OUT_SPLITS)
def test_no_held_out_report_repeats_other_template_text(splits, split):
    reports = {e["id"]: e["report"] for e in splits[split]}
    assert report_leaks(reports, other_templates(SPLIT_GROUP[split])) == []


@pytest.mark.parametrize("split", HELD_OUT_SPLITS)
def test_held_out_slot_values_appear_only_in_their_split(splits, split):
    group = SPLIT_GROUP[split]
    held_names = [v for pool in vocab.NAMES.values() for v in pool[group]]
    held_phrases = [re.escape(v) for pool in vocab.CUES.values() for v in pool[group]]
    held_phrases += [_opener_regex(v) for pool in OPENERS.values() for v in pool[group]]
    phrase_re = [re.compile(p) for p in held_phrases]
    name_re = {v: re.compile(rf"(?<![\w-]){re.escape(v)}(?![\w-])") for v in held_names}
    for e in others(splits, split):
        for v, rx in name_re.items():
            assert not rx.search(e["report"]), (e["id"], v)
        for rx in phrase_re:
            assert not rx.search(e["report"]), (e["id"], rx.pattern)
    assert all(any(rx.search(e["report"]) for rx in phrase_re) for e in splits[split])
    text = " ".join(e["report"] for e in splits[split])
    assert sum(bool(rx.search(text)) for rx in name_re.values()) >= len(held_names) // 2
    # no (template, slot values) of a held-out row can occur elsewhere: the templates are disjoint, and so are texts
    assert not shared(splits[split], others(splits, split), "report")


def test_every_report_draws_cues_openers_and_names_from_its_own_group_only(splits):
    """Read each report's slot values back from its template: a held-out split's cue phrasings and openers are
    its own group's only (never shared, never the other held-out group's), its names shared + its own; training
    rows use shared values only."""
    for name, rows in splits.items():
        group = SPLIT_GROUP[name]
        for e in rows:
            template = TEMPLATES[e["template"]]
            for slot, value in parse_slots(template, e["report"]).items():
                if slot == "open":
                    assert _opener_group(template.form, value) == {group}, (e["id"], value)
                elif slot in vocab.CUES:
                    assert value in vocab.CUES[slot][group], (e["id"], slot, value)
                else:
                    assert value in vocab.names_for(vocab.NAMES[slot], group), (e["id"], slot, value)


@pytest.mark.parametrize("split", list(SPLIT_GROUP))
def test_make_example_uses_only_its_split_group(split):
    rng = random.Random(0)
    for sev in task.SEVERITIES:
        for _ in range(10):
            e = make_example(rng, sev, split)
            assert TEMPLATES[e["template"]].group == SPLIT_GROUP[split] and e["severity"] == sev


def test_eval_is_the_in_template_group(splits):
    train = splits["sft"] + splits["prefs"]
    assert {e["scenario"] for e in splits["eval"]} <= {e["scenario"] for e in train}
    assert {e["template"] for e in splits["eval"]} <= {e["template"] for e in train}
    assert not shared(splits["eval"], train, "report")


# ----------------------------------------------------------------------------- the shipped data


def test_files_equal_the_generator_output_byte_for_byte(tmp_path):
    datagen.write(tmp_path)
    for name in task.SPLITS:
        assert (tmp_path / f"{name}.jsonl").read_bytes() == (task.DATA_DIR / f"{name}.jsonl").read_bytes(), name
    assert datagen.generate() == datagen.generate()


def test_sizes_and_exact_class_balance(splits):
    assert {name: len(rows) for name, rows in splits.items()} == {
        name: size + datagen.SPLIT_EXTENSIONS.get(name, 0) for name, size in datagen.SPLIT_SIZES.items()}
    for name, rows in splits.items():
        counts = Counter(e["severity"] for e in rows)
        assert set(counts.values()) == {len(rows) // 4}, (name, counts)
    reports = [e["report"] for rows in splits.values() for e in rows]
    assert len(set(reports)) == len(reports)


def test_labels_come_from_the_scenario_table(splits):
    for e in (e for rows in splits.values() for e in rows):
        scenario = BY_NAME[e["scenario"]]
        assert e["severity"] == scenario.severity and e["hard_case"] == scenario.hard, e["id"]
        assert TEMPLATES[e["template"]].scenario == e["scenario"], e["id"]


def test_summaries_are_faithful_and_gold_answers_score_perfectly(splits):
    services = sorted({v for slot in vocab.SERVICE_SLOTS for g in GROUPS for v in vocab.NAMES[slot][g]}, key=len,
                      reverse=True)
    number = re.compile(r"\d+(?:\.\d+)?")
    for e in (e for rows in splits.values() for e in rows):
        for n in number.findall(e["summary"]):
            assert n in e["report"], (e["id"], n)
        for s in services:
            if re.search(rf"(?<![\w-]){re.escape(s)}(?![\w-])", e["summary"]):
                assert s in e["report"], (e["id"], s)
        assert unsupported_facts(e["summary"], e["report"]) == [], e["id"]
        answer = task.format_answer(e["severity"], e["component"], e["summary"])
        scores = task.score_response(answer, e)
        assert (scores["format_ok"], scores["severity_match"], scores["component_match"]) == (1, 1, 1), e["id"]
        assert rubric_faithfulness(e, answer)[0] == 5, e["id"]


def test_scenario_and_surface_variety():
    per_severity = Counter(s.severity for s in datagen.SCENARIOS)
    assert len(datagen.SCENARIOS) >= 35 and min(per_severity.values()) >= 8, per_severity
    forms = {t.form for t in TEMPLATES.values()}
    assert forms == {"pager", "ticket", "chat", "email", "status", "postmortem", "handover"}
    for s in datagen.SCENARIOS:
        assert len({t.form for t in s.templates}) >= 3, s.name


def test_readme_lists_the_held_out_splits_and_their_held_out_scenarios():
    text = (task.DATA_DIR / "README.md").read_text()
    assert "unseen.jsonl" in text and "dev_unseen.jsonl" in text and "template" in text
    for name in (n for names in HELD_OUT_SCENARIOS.values() for n in names):
        assert f"`{name}`" in text, name
    for group in ("unseen", "dev"):  # every held-out name is listed
        for pool in vocab.NAMES.values():
            for name in pool[group]:
                assert f"`{name}`" in text, name
