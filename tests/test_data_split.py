"""The unseen split does not leak: its scenarios, templates, template sentences and held-out slot values appear in
no other split; and the shipped data is balanced, labelled from the scenario table and faithful."""

import re
import string
from collections import Counter

import pytest

from helpers import datagen, task
from helpers.datagen import vocab
from helpers.datagen.scenarios import BY_NAME, HELD_OUT_SCENARIOS, TEMPLATES
from helpers.datagen.surfaces import HELD_OUT_FORMS, OPENERS
from helpers.judges.rubric import rubric_faithfulness, unsupported_facts

SHINGLE = 6  # words: a run this long of a template's own (non-slot) text is a phrasing, not a common phrase
TRAINING_SPLITS = ("sft", "prefs", "eval")


@pytest.fixture(scope="module")
def splits():
    return {name: task.load_split(name) for name in task.SPLITS}


@pytest.fixture(scope="module")
def training_rows(splits):
    return [e for name in TRAINING_SPLITS for e in splits[name]]


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


# ----------------------------------------------------------------------------- no leak into the unseen split


def test_unseen_scenarios_are_held_out(splits, training_rows):
    unseen_scenarios = {e["scenario"] for e in splits["unseen"]}
    assert set(HELD_OUT_SCENARIOS) <= unseen_scenarios
    assert not {e["scenario"] for e in training_rows} & set(HELD_OUT_SCENARIOS)
    for sev in task.SEVERITIES:  # about two per severity, at least one of them a hard case
        held = [BY_NAME[s] for s in HELD_OUT_SCENARIOS if BY_NAME[s].severity == sev]
        assert len(held) >= 2 and any(s.hard for s in held), sev


def test_unseen_templates_are_held_out(splits, training_rows):
    assert not shared(splits["unseen"], training_rows, "template")
    for e in splits["unseen"]:
        assert TEMPLATES[e["template"]].unseen_only, e["id"]
    for e in training_rows:
        assert not TEMPLATES[e["template"]].unseen_only, e["id"]
    # unseen also has seen incident types in held-out phrasings, in every severity
    seen_in_unseen = [e for e in splits["unseen"] if e["scenario"] not in HELD_OUT_SCENARIOS]
    assert {e["severity"] for e in seen_in_unseen} == set(task.SEVERITIES)
    # held out for seen scenarios: a whole surface form, and some phrasings in the ordinary forms
    assert any(e["template"].split("/")[1] in HELD_OUT_FORMS for e in seen_in_unseen)
    for sev in task.SEVERITIES:
        assert any(t.unseen_only and t.form not in HELD_OUT_FORMS and not BY_NAME[t.scenario].held_out
                   and BY_NAME[t.scenario].severity == sev for t in TEMPLATES.values()), sev


def test_no_template_sentence_of_unseen_appears_in_training_templates(splits, training_rows):
    training = {t: TEMPLATES[t].report for t in {e["template"] for e in training_rows}}
    unseen = {t: TEMPLATES[t].report for t in {e["template"] for e in splits["unseen"]}}
    assert template_leaks(unseen, training) == []
    # every unseen-only template in the table, used or not
    all_unseen = {t.id: t.report for t in TEMPLATES.values() if t.unseen_only}
    assert template_leaks(all_unseen, training) == []


def test_no_unseen_report_repeats_training_template_text(splits, training_rows):
    training = {t: TEMPLATES[t].report for t in {e["template"] for e in training_rows}}
    assert report_leaks({e["id"]: e["report"] for e in splits["unseen"]}, training) == []


def test_held_out_slot_values_appear_only_in_unseen(splits, training_rows):
    held_names = [v for _, held in vocab.NAMES.values() for v in held]
    held_phrases = [re.escape(v) for _, held in vocab.CUES.values() for v in held]
    held_phrases += [re.escape(v).replace(re.escape("{tk}"), r"\d+") for _, held in OPENERS.values() for v in held]
    phrase_re = [re.compile(p) for p in held_phrases]
    name_re = {v: re.compile(rf"(?<![\w-]){re.escape(v)}(?![\w-])") for v in held_names}
    for e in training_rows:
        for v, rx in name_re.items():
            assert not rx.search(e["report"]), (e["id"], v)
        for rx in phrase_re:
            assert not rx.search(e["report"]), (e["id"], rx.pattern)
    assert all(any(rx.search(e["report"]) for rx in phrase_re) for e in splits["unseen"])
    unseen_text = " ".join(e["report"] for e in splits["unseen"])
    assert sum(bool(rx.search(unseen_text)) for rx in name_re.values()) >= len(held_names) // 2
    # no (template, slot values) of an unseen row can occur elsewhere: the templates are disjoint, and so are texts
    assert not shared(splits["unseen"], training_rows, "report")


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
    assert {name: len(rows) for name, rows in splits.items()} == datagen.SPLIT_SIZES
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
    services = sorted({v for pool in vocab.SERVICE_SLOTS for v in sum(vocab.NAMES[pool], [])}, key=len, reverse=True)
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
    assert forms == {"pager", "ticket", "chat", "email", "status", "postmortem"}
    for s in datagen.SCENARIOS:
        assert len({t.form for t in s.templates}) >= 3, s.name


def test_readme_lists_the_unseen_split_and_its_held_out_scenarios():
    text = (task.DATA_DIR / "README.md").read_text()
    assert "unseen.jsonl" in text and "template" in text
    for name in HELD_OUT_SCENARIOS:
        assert name in text, name
