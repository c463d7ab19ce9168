import json

import pytest

from helpers import checks
from helpers import preferences as prefs
from helpers.judges import RubricJudge, Score, Verdict
from helpers.preferences import PreferenceDataError, validate_preferences
from helpers.task import load_split

GOOD_ROW = {"prompt": [{"role": "system", "content": "triage"}, {"role": "user", "content": "checkout-api down"}],
            "chosen": [{"role": "assistant", "content": '{"severity": "SEV1"}'}],
            "rejected": [{"role": "assistant", "content": "SEV3"}]}


@pytest.mark.parametrize("row, reason", [
    ({k: v for k, v in GOOD_ROW.items() if k != "rejected"}, "missing key(s): rejected"),
    ({**GOOD_ROW, "chosen": GOOD_ROW["rejected"]}, "identical"),
    ({**GOOD_ROW, "chosen": [{"role": "assistant", "content": "  "}]}, "empty content"),
    ({**GOOD_ROW, "chosen": "SEV1"}, "wrong types"),
    ({**GOOD_ROW, "chosen": [{"role": "user", "content": "x"}]}, "has role 'user'"),
    ({**GOOD_ROW, "rejected": [{"content": "x"}]}, "is not a {'role': str, 'content': str} message"),
    ({**GOOD_ROW, "prompt": GOOD_ROW["prompt"][:1]}, "must end with a user message"),
    ({**GOOD_ROW, "prompt": []}, "non-empty list"),
    ({"prompt": "p", "chosen": "", "rejected": "r"}, "chosen is empty"),
    ("just text", "not a mapping"),
])
def test_every_bad_row_is_named_with_its_reason(row, reason):
    rows = [GOOD_ROW, GOOD_ROW, row]
    bad = validate_preferences(rows, raise_on_error=False)
    assert [i for i, _ in bad] == [2] and reason in bad[0][1]
    with pytest.raises(PreferenceDataError) as err:
        validate_preferences(rows)
    assert "row 2" in str(err.value) and reason in str(err.value) and "1 of 3" in str(err.value)


def test_good_rows_pass():
    assert validate_preferences([GOOD_ROW, {"prompt": "p", "chosen": "a", "rejected": "b"}]) == []


class ScriptedJudge:
    """The rubric judge's scores and comparisons, but it fails on chosen ids and can interrupt the run after n
    scoring calls, like a Ctrl-C in the middle of judging."""

    name = "scripted"

    def __init__(self, fail_ids=(), interrupt_after=None):
        self.fail_ids, self.interrupt_after, self.calls, self.compares = set(fail_ids), interrupt_after, 0, 0
        self.rubric = RubricJudge()

    def score_many(self, items, progress=False):
        out = []
        for example, text in items:
            self.calls += 1
            if self.interrupt_after is not None and self.calls > self.interrupt_after:
                raise KeyboardInterrupt
            if example["id"] in self.fail_ids:
                out.append(Score(None, "judge call failed", self.name, failed=True, error="HTTP 529"))
            else:
                out.append(self.rubric.score(example, text))
        return out

    def compare_many(self, items, progress=False):
        return [self.compare(*item) for item in items]

    def compare(self, example, a, b):
        self.compares += 1
        if example["id"] in self.fail_ids:
            return Verdict(None, "judge call failed", self.name, failed=True, error="HTTP 529")
        return self.rubric.compare(example, a, b)


def test_sampling_resumes_after_an_interruption_and_rescores_only_failures(tiny, tmp_path):
    model, tokenizer = tiny
    examples = load_split("prefs")[:12]
    out = tmp_path / "samples.jsonl"
    temps = (0.7, 1.2, 1.0, 1.0)
    kwargs = dict(temperatures=temps, max_new_tokens=12, batch_size=8, chunk_size=4, seed=0, progress=False)
    with pytest.raises(KeyboardInterrupt):
        prefs.sample_and_score(examples, model, tokenizer, ScriptedJudge(interrupt_after=20), out, **kwargs)
    first = prefs.read_records(out)
    assert len(first) == 4  # the first chunk (4 prompts x 4 answers) was written; nothing of it is lost
    with out.open("a") as f:
        f.write('{"id": "torn')  # a write torn by the interruption
    judge = ScriptedJudge(fail_ids={examples[5]["id"]})
    records = prefs.sample_and_score(examples, model, tokenizer, judge, out, **kwargs)
    assert judge.calls == 8 * 4  # only the 8 prompts not sampled yet, 4 answers each
    assert [r["id"] for r in records] == [e["id"] for e in examples]
    failed = [r for r in records if r["id"] == examples[5]["id"]][0]
    assert failed["status"] == "judge_failed" and all(s["score"] is None for s in failed["samples"])
    assert all(s["score"] is not None for r in records if r["status"] == "scored" for s in r["samples"])
    assert [s["temperature"] for s in records[0]["samples"]] == list(temps)

    retry = ScriptedJudge()
    again = prefs.sample_and_score(examples, model, tokenizer, retry, out, **kwargs)
    assert retry.calls == 4 and retry.compares == 1  # the failed prompt is re-scored from its kept samples
    assert [s["text"] for s in again[5]["samples"]] == [s["text"] for s in failed["samples"]]
    assert {r["status"] for r in again} == {"scored"}
    reports = {e["id"]: e["report"] for e in examples}
    for strategy in prefs.STRATEGIES:
        pairs = prefs.select_pairs(again, reports, strategy, min_gap=0.0)
        assert len(pairs) == len(examples)
        kept = [p for p in pairs if p["status"] == "kept"]
        ds = prefs.to_dataset(pairs, val_fraction=0.25) if kept else None
        if ds is not None:
            assert len(ds["train"]) + len(ds["validation"]) == len(kept)
        assert validate_preferences(prefs.triples(pairs)) == []
        for p in kept:
            assert p["chosen"] != p["rejected"] and p["prompt"][-1]["content"] == reports[p["id"]]
            if strategy == "two_temperatures":
                assert {p["temperature_chosen"], p["temperature_rejected"]} == {0.7, 1.2}


EX = {"id": "prefs-x", "report": "search-api is down in eu-west-1 only; other regions are healthy.",
      "severity": "SEV2", "component": "search-api", "hard_case": False}


def _answer(sev="SEV2", comp="search-api", summary="search-api is down in eu-west-1."):
    return json.dumps({"severity": sev, "component": comp, "summary": summary})


def _record(texts, temps=(0.7, 1.2, 1.0, 1.0), course_winner="a", low_first=True):
    judge = RubricJudge()
    samples = [{"text": t, "temperature": temp, **judge.score(EX, t).to_dict()}
               for t, temp in zip(texts, temps, strict=True)]
    for s in samples:
        s.pop("judge")
    return {"id": EX["id"], "severity": EX["severity"], "hard_case": False, "status": "scored", "samples": samples,
            "course_indices": [0, 1], "course": {"winner": course_winner, "low_first": low_first, "failed": False,
                                                 "error": None, "rationale": "", "details": {"rule": "format"}}}


REPORTS = {EX["id"]: EX["report"]}


def test_best_vs_worst_pairs_the_right_severity_against_the_wrong_one_whatever_the_format():
    right_but_fenced = "```json\n" + _answer() + "\n```"
    wrong_but_valid = _answer(sev="SEV1")
    record = _record([right_but_fenced, wrong_but_valid, _answer(sev="SEV1", comp="x"), _answer(sev="SEV3")])
    [pair] = prefs.select_pairs([record], REPORTS, "best_vs_worst")
    assert pair["status"] == "kept" and pair["decided_by"] == "severity"
    assert pair["chosen"][0]["content"] == right_but_fenced
    assert pair["rejected"][0]["content"] == _answer(sev="SEV1", comp="x")  # the worst: wrong severity and component
    assert pair["score_gap"] == pytest.approx(6.0 - 2.5)  # 4 + 1 + 1 (fenced: no format points) vs 1.5 + 1
    assert prefs.pair_kind(pair) == "signal"
    # the course's recipe on the same samples: the pairwise rules check format first, so the valid wrong answer wins
    record["course"]["winner"] = RubricJudge().compare(EX, right_but_fenced, wrong_but_valid).winner
    [course] = prefs.select_pairs([record], REPORTS, "two_temperatures")
    assert course["status"] == "kept" and prefs.pair_kind(course) == "anti-signal"
    assert course["chosen"][0]["content"] == wrong_but_valid and course["temperature_chosen"] == 1.2


def test_best_vs_each_severity_rejects_every_severity_mistake_once_and_keeps_a_prompts_pairs_together():
    word_salad = "This indicates that the customer usage is being shut down for a meaningful thing"
    sev1, sev3 = _answer(sev="SEV1", summary="search-api fails everywhere."), _answer(sev="SEV3", comp="x")
    record = _record([_answer(), sev1, sev3, word_salad])
    pairs = prefs.select_pairs([record], REPORTS, "best_vs_each_severity")
    assert [p["rejected"][0]["content"] for p in pairs] == [sev3, sev1]  # worst first; no word salad
    assert all(p["chosen"][0]["content"] == _answer() and prefs.pair_kind(p) == "signal" for p in pairs)
    [worst] = prefs.select_pairs([record], REPORTS, "best_vs_worst")
    assert worst["rejected"][0]["content"] == word_salad  # the lowest score: no format, no severity
    report = prefs.quality_report({"worst": [worst], "each": pairs})
    assert report.loc["  of them with a well-formed rejected"].tolist() == [0.0, 1.0]
    # the same severity as the chosen (a wrong component) is not a severity mistake: only SEV1 is rejected
    same = _record([_answer(), _answer(comp="x"), sev1, _answer()])
    assert [p["rejected"][0]["content"] for p in prefs.select_pairs([same], REPORTS, "best_vs_each_severity")] \
        == [sev1]
    # nothing well-formed below the best: one pair, as best_vs_worst makes it; ties are still dropped
    salad_only = _record([_answer(), word_salad, word_salad + ".", word_salad + "!"])
    assert [p["rejected"] for p in prefs.select_pairs([salad_only], REPORTS, "best_vs_each_severity")] == \
        [p["rejected"] for p in prefs.select_pairs([salad_only], REPORTS, "best_vs_worst")]
    tie = _record([_answer()] * 4)
    assert [p["status"] for p in prefs.select_pairs([tie], REPORTS, "best_vs_each_severity")] == ["tie"]
    # the report counts prompts, not pair records; the validation split never separates a prompt's pairs
    many = []
    for i in range(20):
        r = _record([_answer(), sev1, sev3, word_salad])
        r["id"] = f"p{i}"
        many.append(r)
    pairs = prefs.select_pairs(many, {f"p{i}": EX["report"] for i in range(20)}, "best_vs_each_severity")
    column = prefs.quality_report({"each": pairs})["each"]
    assert column["prompts"] == 20 and column["pairs kept"] == 40 and column["prompts with no usable pair"] == 0
    data = prefs.to_dataset(pairs, val_fraction=0.25, seed=0)
    assert len(data["train"]) == 30 and len(data["validation"]) == 10  # 5 of the 20 prompts, both pairs each


def test_severity_contrast_rejects_the_best_answer_with_the_models_likeliest_wrong_severity():
    word_salad = "This indicates that the customer usage is being shut down for a meaningful thing"
    best = _answer(summary="search-api is down in eu-west-1 only.")
    sev1, sev3 = _answer(sev="SEV1", summary="search-api fails everywhere."), _answer(sev="SEV3", comp="x")
    record = _record([best, sev3, sev1, _answer(sev="SEV1", comp="y")])
    [pair] = prefs.select_pairs([record], REPORTS, "severity_contrast")
    # SEV1 is the mistake the model made most often (2 of 4), so the pair differs from the best answer there alone
    assert pair["chosen"][0]["content"] == best
    assert pair["rejected"][0]["content"] == best.replace('"SEV2"', '"SEV1"')
    assert pair["decided_by"] == "severity" and prefs.pair_kind(pair) == "signal"
    assert pair["rejected_edit"] == "SEV2 -> SEV1 (2 of 4 answers)" and pair["score_rejected"] is None
    assert pair["score_gap"] == pytest.approx(7.5 - 2.5)  # against the worst of the SEV1 answers the judge scored
    assert prefs.severity_push([pair]) == {"SEV1": -1, "SEV2": 1, "SEV3": 0, "SEV4": 0}
    # equal counts: the severity of the lower-scored answer (SEV3 also has the wrong component)
    [pair] = prefs.select_pairs([_record([best, sev3, sev1, best])], REPORTS, "severity_contrast")
    assert pair["rejected"][0]["content"] == best.replace('"SEV2"', '"SEV3"')
    # no well-formed wrong severity below the best: best vs worst, as that strategy makes it (word salad rejected)
    salad_only = _record([best, word_salad, _answer(comp="x"), best])
    assert prefs.select_pairs([salad_only], REPORTS, "severity_contrast") == \
        prefs.select_pairs([salad_only], REPORTS, "best_vs_worst")
    # the best answer's severity is wrong too (all four wrong): no contrast is made, and ties are still dropped
    all_wrong = _record([sev1, _answer(sev="SEV4"), sev3, _answer(sev="SEV4", comp="x")])
    assert prefs.select_pairs([all_wrong], REPORTS, "severity_contrast") == \
        prefs.select_pairs([all_wrong], REPORTS, "best_vs_worst")
    assert [p["status"] for p in prefs.select_pairs([_record([best] * 4)], REPORTS, "severity_contrast")] == ["tie"]
    assert prefs.with_severity('{"severity" : "SEV3", "x": "SEV3"}', "SEV4") == '{"severity" : "SEV4", "x": "SEV3"}'
    assert prefs.with_severity("no severity here", "SEV4") is None


def _kept(i, gold, chosen_sev, rejected_sev, comp="search-api"):
    rejected = "no JSON here" if rejected_sev is None else _answer(sev=rejected_sev, comp=comp)
    return {"id": f"p{i}", "severity": gold, "hard_case": False, "status": "kept", "decided_by": "severity",
            "score_gap": 4.0, "prompt": [{"role": "user", "content": "r"}],
            "chosen": [{"role": "assistant", "content": _answer(sev=chosen_sev)}],
            "rejected": [{"role": "assistant", "content": rejected}]}


def test_balancing_leaves_no_severity_pushed_up_or_down_and_keeps_mirror_pairs():
    # 5 "SEV1 over SEV4" pairs on SEV1 reports, 2 mirrors on SEV4 reports, 3 "SEV2 over SEV3" with no mirror,
    # 1 decided by the component (SEV2 both sides), 1 whose rejected answer has no severity
    pairs = ([_kept(i, "SEV1", "SEV1", "SEV4") for i in range(5)] + [_kept(i, "SEV4", "SEV4", "SEV1") for i in (5, 6)]
             + [_kept(i, "SEV2", "SEV2", "SEV3") for i in (7, 8, 9)] + [_kept(10, "SEV2", "SEV2", "SEV2", comp="x")]
             + [_kept(11, "SEV3", "SEV3", None)] + [{"id": "p12", "severity": "SEV3", "status": "tie"}])
    assert prefs.severity_push(pairs) == {"SEV1": 3, "SEV2": 3, "SEV3": -2, "SEV4": -3, "none": -1}
    balanced = prefs.balance_severities(pairs, seed=0)
    assert len(balanced) == len(pairs) and [p["id"] for p in balanced] == [p["id"] for p in pairs]
    assert prefs.severity_push(balanced) == {"SEV1": 0, "SEV2": 0, "SEV3": 0, "SEV4": 0}
    kept = [p["id"] for p in balanced if p["status"] == "kept"]
    assert {"p5", "p6", "p10"} <= set(kept) and len(kept) == 5  # both mirrors, 2 of the 5, the component pair
    assert sum(p["status"] == "unbalanced" for p in balanced) == 7 and balanced[-1]["status"] == "tie"
    assert balanced == prefs.balance_severities(pairs, seed=0)  # seeded
    column = prefs.quality_report({"b": balanced})["b"]
    assert column["  dropped: to balance the severities"] == 7 and column["push: SEV1 chosen - rejected"] == 0
    assert prefs.quality_report({"a": pairs})["a"]["push: SEV1 chosen - rejected"] == 3


def test_ties_small_gaps_near_identical_and_failures_are_dropped_and_counted():
    same = _record([_answer()] * 4)
    small = _record([_answer(), _answer(), _answer(summary="search-api is down in eu-west-1 at 12:00."), _answer()])
    near = _record([_answer(), _answer(sev="SEV3"), _answer(), _answer()])
    failed = _record([_answer(), _answer(sev="SEV3"), _answer(), _answer()])
    failed["samples"][1].update(score=None, failed=True, error="HTTP 529")
    failed["status"] = "judge_failed"
    ids = ["a", "b", "c", "d"]
    for r, i in zip((same, small, near, failed), ids, strict=True):
        r["id"] = i
    reports = {i: EX["report"] for i in ids}
    pairs = prefs.select_pairs([same, small, near, failed], reports, "best_vs_worst", min_gap=1.0,
                               near_identical=0.98)
    assert [p["status"] for p in pairs] == ["tie", "small_gap", "near_identical", "judge_failed"]
    loose = prefs.select_pairs([near], {"c": EX["report"]}, "best_vs_worst", min_gap=1.0, near_identical=1.0)
    assert loose[0]["status"] == "kept" and prefs.pair_kind(loose[0]) == "signal"
    report = prefs.quality_report({"best_vs_worst": pairs})["best_vs_worst"]
    assert report["prompts"] == 4 and report["pairs kept"] == 0 and report["prompts with no usable pair"] == 4
    assert report["  dropped: tie"] == 1 and report["  dropped: score gap too small"] == 1
    assert report["  dropped: near-identical"] == 1 and report["  dropped: judge failed"] == 1
    with pytest.raises(PreferenceDataError, match="no usable preference pairs among 4 prompts"):
        prefs.to_dataset(pairs)


def test_bad_pairing_parameters_name_themselves():
    with pytest.raises(checks.ParameterError, match="pair_strategy must be one of .*got 'best_of'"):
        prefs.select_pairs([], {}, "best_of")
    with pytest.raises(checks.ParameterError, match="min_score_gap must be a finite number >= 0, got -1"):
        prefs.select_pairs([], {}, "best_vs_worst", min_gap=-1)
    with pytest.raises(checks.ParameterError, match=r"near_identical must be a number in \(0, 1\], got 0"):
        prefs.select_pairs([], {}, "best_vs_worst", near_identical=0)
    with pytest.raises(checks.ParameterError, match=r"val_fraction must be a number in \[0, 1\), got 1.5"):
        prefs.to_dataset([], val_fraction=1.5)
    with pytest.raises(checks.ParameterError, match="pair_strategy.*; min_score_gap"):  # every bad one, at once
        prefs.select_pairs([], {}, "best_of", min_gap=-1)


def test_read_preferences_names_the_file_and_the_line_of_each_row(tmp_path):
    path = tmp_path / "prefs.jsonl"
    path.write_text("\n" + json.dumps(GOOD_ROW) + "\n\n" + json.dumps(GOOD_ROW) + "\n")
    rows, lines = prefs.read_preferences(path)
    assert rows == [GOOD_ROW, GOOD_ROW] and lines == [2, 4]
    with pytest.raises(FileNotFoundError, match="preferences file not found .*in .*run.yaml"):
        prefs.read_preferences(tmp_path / "missing.jsonl", tmp_path / "run.yaml")
    path.write_text("\n \n")
    with pytest.raises(PreferenceDataError, match="no preference rows"):
        prefs.read_preferences(path)


def test_quality_report_counts_signal_and_anti_signal_pairs():
    pairs = []
    for chosen, rejected in ((_answer(), _answer(sev="SEV1")), (_answer(sev="SEV1"), _answer()),
                             (_answer(sev="SEV1"), _answer(sev="SEV3")), (_answer(), _answer(comp="x"))):
        pairs.append({"id": "p", "severity": "SEV2", "status": "kept", "decided_by": "severity", "score_gap": 4.0,
                      "prompt": [{"role": "user", "content": "r"}],
                      "chosen": [{"role": "assistant", "content": chosen}],
                      "rejected": [{"role": "assistant", "content": rejected}]})
    column = prefs.quality_report({"s": pairs})["s"]
    assert column["signal pairs (chosen right, rejected wrong)"] == 0.25
    assert column["anti-signal pairs (chosen wrong, rejected right)"] == 0.25
    assert column["both wrong on severity"] == 0.25 and column["both right on severity"] == 0.25


def _ultrafeedback_rows():
    rows = []
    for i in range(5):
        p = f"Question {i}?"
        rows.append({"prompt": p, "prompt_id": f"id{i}",
                     "chosen": [{"role": "user", "content": p}, {"role": "assistant", "content": f"Good {i}"}],
                     "rejected": [{"role": "user", "content": p}, {"role": "assistant", "content": f"Bad {i}"}],
                     "messages": [{"role": "user", "content": p}], "score_chosen": 8.0, "score_rejected": 3.0})
    return rows


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_ultrafeedback_converter(tmp_path, fmt):
    import pandas as pd

    path = tmp_path / f"uf.{fmt}"
    frame = pd.DataFrame(_ultrafeedback_rows())
    frame.to_parquet(path) if fmt == "parquet" else frame.to_json(path, orient="records", lines=True)
    rows = prefs.load_ultrafeedback(str(path), limit=4)
    assert len(rows) == 4
    assert rows[1]["prompt"] == [{"role": "user", "content": "Question 1?"}]
    assert rows[1]["chosen"] == [{"role": "assistant", "content": "Good 1"}]
    assert rows[1]["rejected"] == [{"role": "assistant", "content": "Bad 1"}]
    assert rows[1]["score_chosen"] == 8.0 and rows[1]["id"] == "id1"
    assert validate_preferences(rows) == []


def test_ultrafeedback_bad_rows_are_named(tmp_path):
    rows = _ultrafeedback_rows()
    rows[2]["chosen"] = [{"role": "assistant", "content": "no user turn"}]
    rows[4]["rejected"] = rows[4]["rejected"][:1]
    path = tmp_path / "uf.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(PreferenceDataError) as err:
        prefs.load_ultrafeedback(str(path))
    assert "row 2: chosen must start with the user turn" in str(err.value)
    assert "row 4: rejected has no assistant answer" in str(err.value)


def test_ultrafeedback_offline_hub_error_says_what_to_do():
    with pytest.raises(FileNotFoundError, match="local path"):
        prefs.load_ultrafeedback("HuggingFaceH4/ultrafeedback_binarized", limit=2)
