import json
import random

import pytest

from helpers import task
from helpers.task import DataError, parse_response, read_jsonl, score_response

GOOD = '{"severity": "SEV2", "component": "search-api", "summary": "search-api is down in eu-west-1."}'
EXAMPLE = {"id": "x", "report": "search-api is down in eu-west-1.", "severity": "SEV2", "component": "search-api",
           "summary": "search-api is down in eu-west-1."}


def test_canonical_answer_is_valid():
    p = parse_response(GOOD)
    assert p.valid and p.reason == "ok"
    assert (p.severity, p.component) == ("SEV2", "search-api")


@pytest.mark.parametrize("text, problem", [
    ("", "empty"),
    ("   \n ", "empty"),
    ("The search API is down, I would call it a SEV2.", "no JSON object"),
    ('{"severity": "SEV2", "component": "search-api", "summ', "truncated"),
    ('{"severity": "SEV2", "component": "search-api"}', "missing keys: summary"),
    (GOOD[:-1] + ', "owner": "sre"}', "extra keys: owner"),
    (GOOD.replace("SEV2", "critical"), "not one of SEV1..SEV4"),
    (GOOD.replace("SEV2", "sev-2"), "not spelled exactly"),
    ("Sure! Here is the triage:\n" + GOOD, "text outside"),
    (GOOD.replace('"search-api is down in eu-west-1."', '"It is down. Users are angry."'), "more than one sentence"),
    (GOOD.replace('"search-api is down in eu-west-1."', '"It is down, e.g. for logins. Users wait"'),
     "more than one sentence"),
    (GOOD[:-1] + ', "severity": "SEV4"}', "duplicate keys: severity"),
    (GOOD.replace('"search-api",', '42,'), "component is not a non-empty string"),
    ('{"severity": "SEV2", "component": "search-api", "summary": "x"', "truncated"),
    ("{not json at all}", "malformed"),
    (None, "not text"),
    (["a list"], "not text"),
])
def test_invalid_answers_say_why(text, problem):
    p = parse_response(text)
    assert not p.valid
    assert problem in p.reason


@pytest.mark.parametrize("summary, n", [
    ("search-api is down in eu-west-1.", 1),
    ("search-api is down, e.g. for logins, i.e. everyone.", 1),
    ("search-api v1.2 fails for approx. 3.5% of U.S. users since 9 a.m. today.", 1),
    ("search-api (HTTP 500, 502, etc.) is down.", 1),
    ("search-api is down. Users are angry.", 2),
    ("search-api is down since 9 a.m. Users are angry!", 2),
    ('search-api said "down." Then it recovered.', 2),
    ("", 0),
])
def test_sentence_count_skips_abbreviations_and_decimals(summary, n):
    assert task.count_sentences(summary) == n


def test_fenced_json_is_read_but_not_format_conformant():
    p = parse_response("```json\n" + GOOD + "\n```")
    assert not p.valid and "code fence" in p.reason
    assert p.severity == "SEV2" and p.component == "search-api"


def test_loose_severity_spelling_is_still_scored():
    p = parse_response(GOOD.replace("SEV2", "Sev 2"))
    assert p.severity == "SEV2" and not p.valid


def test_very_long_text_is_handled_quickly():
    import time

    text = "{" * 200_000 + GOOD + "x" * 500_000
    t0 = time.perf_counter()
    p = parse_response(text)
    assert time.perf_counter() - t0 < 2
    assert not p.valid and "too long" in p.reason


def test_parser_never_raises_on_random_text():
    rng = random.Random(0)
    alphabet = '{}[]":,SEV1234 abc\n\\`'
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(60)))
        parse_response(text)  # must not raise
        parse_response(GOOD[: rng.randrange(len(GOOD))])


def test_scores():
    s = score_response(GOOD.replace("search-api", "Search API"), EXAMPLE)
    assert s["format_ok"] == 1 and s["severity_match"] == 1 and s["component_match"] == 1
    s = score_response(GOOD.replace("SEV2", "SEV3"), EXAMPLE)
    assert s["severity_match"] == 0 and s["format_ok"] == 1
    s = score_response("no idea", EXAMPLE)
    assert s == {"format_ok": 0, "severity_match": 0, "component_match": 0, "length_chars": 7,
                 "format_problems": "no JSON object found"}


@pytest.mark.parametrize("split", task.SPLITS)
def test_gold_answers_score_perfectly(split):
    examples = task.load_split(split)
    answers = [task.format_answer(e["severity"], e["component"], e["summary"]) for e in examples]
    table = task.score_responses(answers, examples)
    bad = table[(table.format_ok < 1) | (table.severity_match < 1) | (table.component_match < 1)]
    assert bad.empty, bad.head().to_string()


def test_prompt_uses_the_chat_template(tiny):
    _, tokenizer = tiny
    prompt = task.format_prompt(tokenizer, "checkout-api down")
    assert prompt.startswith("<|im_start|>system\n" + task.SYSTEM_PROMPT)
    assert prompt.endswith("<|im_start|>assistant\n")
    assert len(tokenizer(task.SYSTEM_PROMPT).input_ids) < 120  # short: prompt tokens cost training time


def _write(tmp_path, rows):
    path = tmp_path / "bad.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("bad_row, reason", [
    ('{"id": "x", "report": ', "not valid JSON"),
    ({k: v for k, v in EXAMPLE.items() if k != "severity"}, "missing field 'severity'"),
    ({**EXAMPLE, "severity": "P1"}, "severity 'P1' is not one of"),
    ({**EXAMPLE, "component": "billing-service"}, "not named in the report"),
    ({**EXAMPLE, "summary": ""}, "'summary' must be a non-empty string"),
    ('["a", "list"]', "expected a JSON object"),
])
def test_malformed_data_names_row_and_reason(tmp_path, bad_row, reason):
    path = _write(tmp_path, [EXAMPLE, {**EXAMPLE, "id": "y"}, bad_row])  # distinct ids: a repeated one is an error
    with pytest.raises(DataError) as err:
        read_jsonl(path)
    assert "bad.jsonl:3" in str(err.value) and reason in str(err.value)


def test_unknown_split_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="unknown split"):
        task.load_split("train")
    with pytest.raises(FileNotFoundError, match="helpers.datagen"):
        task.load_split("eval", data_dir=tmp_path)
