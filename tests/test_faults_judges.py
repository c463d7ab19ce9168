"""Fault injection at the judge boundary: one row per fault, each asserting what a learner would care about.

A judge is code the workbook does not control: a remote API that can be overloaded, rate-limited, unreachable or
answer garbage, or a learner's own class that returns a winner "A". Every row below checks that such a fault ends
as the right result or as a recorded failure with a one-line reason, never as a verdict, a score, a kept pair or a
p-value. The remote faults go through the real `anthropic` SDK against a local fake Messages API
(tests/fake_anthropic.py); the in-process ones through small fake judges. No model is loaded.
"""

import json
import math
import re
import socket
import time

import numpy as np
import pandas as pd
import pytest

from helpers import evaluation as ev
from helpers import preferences as prefs
from helpers import stats
from helpers.judges import (
    ClaudeJudge,
    Faithfulness,
    RubricJudge,
    Score,
    Verdict,
    checked_scores,
    checked_verdicts,
    score_range,
)
from helpers.preferences import PreferenceDataError

from .fake_anthropic import FakeAnthropic

EX = {"id": "f-1", "report": "[ALERT] search-api unavailable in eu-west-1: all requests return HTTP 503 for 20 "
      "minutes. Other regions are healthy.", "severity": "SEV2", "component": "search-api",
      "summary": "search-api has been unavailable in eu-west-1 for 20 minutes.", "hard_case": False}
TEMPS = (0.7, 1.2, 1.0, 1.0)


def answer(sev="SEV2", comp="search-api", summary="search-api is unavailable in eu-west-1 for 20 minutes."):
    return json.dumps({"severity": sev, "component": comp, "summary": summary})


def example(i: int, marker: str = "") -> dict:
    return {**EX, "id": f"f-{i}", "report": EX["report"] + f" #{i}" + (f" {marker}" if marker else "")}


def closed_port_url() -> str:
    """A local URL that nothing listens on: connection refused at once, as with an unreachable API."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def record_from(example_: dict, texts: list[str], scores: list, verdict=None, judge_name="claude") -> dict:
    """A sampling-log record (the shape documented in prefs.sample_and_score) from a judge's raw output, so the
    pairing step sees exactly what a judge returned, checked or not."""
    samples = [{"text": t, "temperature": temp, "score": s.score, "failed": s.failed, "error": s.error,
                "rationale": s.rationale, "details": s.details} for t, temp, s in zip(texts, TEMPS, scores,
                                                                                     strict=True)]
    failed = any(s["failed"] is True for s in samples) or bool(verdict is not None and verdict.failed is True)
    record = {"id": example_["id"], "severity": example_["severity"], "hard_case": False, "judge": judge_name,
              "samples": samples, "status": "judge_failed" if failed else "scored"}
    if verdict is not None:
        record["course_indices"] = [0, 1]
        record["course"] = {"winner": verdict.winner, "low_first": True, "failed": verdict.failed,
                            "error": verdict.error, "rationale": verdict.rationale, "details": verdict.details}
    return record


@pytest.fixture
def fake_api(monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fault-test-SECRET")
    with FakeAnthropic() as server:
        yield server, ClaudeJudge(base_url=server.url, cache_dir=tmp_path / "cache", max_retries=1, timeout=5,
                                  concurrency=2)


# ----------------------------------------------------------------------------- remote faults: scores -> pairs

# (marker in every answer, error expected in the failure; None: the fault heals and the pair is kept)
SCORE_FAULTS = [
    pytest.param("OVERLOADED", "HTTP 529", id="overloaded-529"),
    pytest.param("BROKEN", "HTTP 500", id="server-error-500"),
    pytest.param("RATE_ONCE", None, id="rate-limited-429-then-fine"),
    pytest.param("FLAKY", None, id="flaky-connection-then-fine"),
    pytest.param("MALFORMED", "not JSON", id="garbage-text"),
    pytest.param("HTTP_GARBAGE", "not a Messages API message", id="html-body-not-json"),
    pytest.param("EMPTY", "no text content", id="empty-content"),
    pytest.param("SCORE_11", "no integer score from 1 to 10", id="score-11-out-of-scale"),
    pytest.param("SCORE_STRING", "no integer score", id="score-string-7"),
    pytest.param("SCORE_FLOAT", "no integer score", id="score-float-7.5"),
    pytest.param("SCORE_BOOL", "no integer score", id="score-bool-true"),
    pytest.param("SCORE_MISSING", "no integer score", id="score-key-missing"),
]


@pytest.mark.parametrize("marker, error", SCORE_FAULTS)
def test_remote_score_fault_drops_the_prompt_never_keeps_a_pair(fake_api, marker, error):
    server, judge = fake_api
    ex = example(1)
    texts = [answer(summary=f"GOOD {marker} one"), answer(sev="SEV1", summary=f"{marker} two"),
             answer(sev="SEV4", comp="eu-west-1", summary=f"{marker} three"), answer(summary=f"GOOD {marker} four")]
    scores = checked_scores(judge.score_many([(ex, t) for t in texts], progress=False), len(texts), judge.name,
                            *score_range(judge))
    [pair] = prefs.select_pairs([record_from(ex, texts, scores)], {ex["id"]: ex["report"]}, "best_vs_worst")
    if error is None:  # retried by the SDK, then fine: a real pair, nothing counted as failed
        assert [s.score for s in scores] == [9, 4, 4, 9] and judge.usage["failed"] == 0
        assert pair["status"] == "kept" and "GOOD" in pair["chosen"][0]["content"]
        assert len([r for r in server.requests if r["path"].startswith("/v1/messages")]) >= 5  # a retry happened
    else:
        assert all(s.failed and s.score is None and error in s.error for s in scores)
        assert judge.usage["failed"] == 4  # every failed call counted
        assert pair["status"] == "judge_failed" and error in pair["error"]
        assert not list(judge.cache_dir.glob("*.json"))  # not cached: the next run asks again
        with pytest.raises(PreferenceDataError, match="every judge call failed .*ANTHROPIC_API_KEY"):
            prefs.to_dataset([pair])


# ----------------------------------------------------------------------------- remote faults: comparisons

COMPARE_FAULTS = [
    pytest.param("OVERLOADED", "HTTP 529", id="overloaded-529"),
    pytest.param("RATE_ONCE", None, id="rate-limited-429-then-fine"),
    pytest.param("FLAKY", None, id="flaky-connection-then-fine"),
    pytest.param("MALFORMED", "not JSON", id="garbage-text"),
    pytest.param("EMPTY", "no text content", id="empty-content"),
    pytest.param("WINNER_C", "no winner A, B or tie", id="winner-C-outside-schema"),
    pytest.param("WINNER_MISSING", "no winner A, B or tie", id="winner-key-missing"),
]


@pytest.mark.parametrize("marker, error", COMPARE_FAULTS)
def test_remote_compare_fault_is_missing_data_in_session_c_and_a_dropped_course_pair(fake_api, marker, error):
    _, judge = fake_api
    examples = [example(i, marker) for i in range(2)]
    sft = [answer(sev="SEV1") for _ in examples]
    dpo = [answer(summary=f"GOOD {i}") for i in range(2)]
    pair = ev.pairwise(examples, sft, dpo, judge, progress=False)
    verdict = checked_verdicts([judge.compare(examples[0], dpo[0], sft[0])], 1, judge.name)[0]
    texts = [dpo[0], sft[0], answer(sev="SEV3"), answer(sev="SEV4")]
    record = record_from(examples[0], texts, RubricJudge().score_many([(EX, t) for t in texts], False), verdict)
    [course] = prefs.select_pairs([record], {examples[0]["id"]: examples[0]["report"]}, "two_temperatures")
    if error is None:
        assert pair["score"].tolist() == [1.0, 1.0] and pair["error"].isna().all()
        assert course["status"] == "kept" and course["chosen"][0]["content"] == dpo[0]
    else:
        assert pair["score"].isna().all() and all(error in e for e in pair["error"])  # missing, never a loss
        assert verdict.failed and course["status"] == "judge_failed" and error in course["error"]
        assert judge.usage["failed"] >= 3


def test_remote_faithfulness_out_of_scale_is_missing_not_a_number(fake_api):
    _, judge = fake_api
    examples = [example(1, "FAITH_9"), example(2)]
    answers = {"SFT": [answer(), answer()], "SFT+DPO": [answer(summary="GOOD"), answer(summary="GOOD")]}
    scores = ev.per_prompt_scores(examples, answers, judge, progress=False)
    faith = scores.set_index(["model", "id"])["faithfulness"]
    assert math.isnan(faith["SFT", "f-1"]) and math.isnan(faith["SFT+DPO", "f-1"])
    assert faith["SFT", "f-2"] == 2 and faith["SFT+DPO", "f-2"] == 5
    assert "no integer score from 1 to 5" in scores.set_index(["model", "id"]).loc[("SFT", "f-1"),
                                                                                 "faithfulness_error"]


# ----------------------------------------------------------------------------- an unreachable API (closed port)

def test_closed_port_estimate_says_not_computed_and_every_call_is_a_counted_failure(monkeypatch, tmp_path, capsys):
    secret = "sk-ant-fault-test-SECRET"
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    judge = ClaudeJudge(base_url=closed_port_url(), cache_dir=tmp_path, max_retries=1, timeout=2, concurrency=2,
                        unreachable_after=3)
    examples = [example(i) for i in range(6)]
    items = [(e, answer(summary=f"answer {k}")) for e in examples for k in range(len(TEMPS))]
    start = time.monotonic()
    estimate = judge.estimate_scores(items)  # Session B's first API call: it must not raise
    assert estimate["error"].startswith("estimate not computed: token count failed: APIConnectionError")
    assert "refused" in estimate["error"].lower() and secret not in estimate["error"]
    assert estimate["requests"] == len(items)
    scores = checked_scores(judge.score_many(items, progress=False), len(items), judge.name, *score_range(judge))
    elapsed = time.monotonic() - start
    assert all(s.failed and s.score is None for s in scores) and judge.usage["failed"] == len(items)
    assert any("API unreachable" in s.error for s in scores)  # later calls are not sent at all
    assert elapsed < 20  # not minutes of retries
    records = [record_from(e, [t for _, t in items[4 * i:4 * i + 4]], scores[4 * i:4 * i + 4])
               for i, e in enumerate(examples)]
    pairs = prefs.select_pairs(records, {e["id"]: e["report"] for e in examples}, "best_vs_worst")
    assert {p["status"] for p in pairs} == {"judge_failed"}
    assert prefs.sample_report(records).loc["judge calls failed"].sum() == len(items)  # Session B shows the count
    with pytest.raises(PreferenceDataError) as err:
        prefs.to_dataset(pairs)
    message = str(err.value)
    assert "every judge call failed (6 of 6 prompts)" in message and "ANTHROPIC_API_KEY" in message
    assert "\n" not in message and secret not in message
    out = capsys.readouterr()
    assert secret not in out.out + out.err


# ----------------------------------------------------------------------------- in-process judges returning junk

class JunkJudge(RubricJudge):
    """The rubric judge, except that its batch calls return `bad` for the first item (or a wrong count)."""

    name = "junk-judge"

    def __init__(self, bad=None, count=None):
        self.bad, self.count = bad, count

    def compare_many(self, items, progress=True):
        out = [self.compare(*item) for item in items]
        if self.count is not None:
            return (out * 2)[:self.count]
        return [self.bad] + out[1:]

    def score_many(self, items, progress=True):
        out = [self.score(*item) for item in items]
        if self.count is not None:
            return (out * 2)[:self.count]
        return [self.bad] + out[1:]

    def faithfulness_many(self, items, progress=True):
        out = [self.faithfulness(*item) for item in items]
        if self.count is not None:
            return (out * 2)[:self.count]
        return [self.bad] + out[1:]


def v(winner, failed=False, error=None):
    return Verdict(winner, "junk", "junk-judge", failed=failed, error=error)


BAD_VERDICTS = [
    pytest.param(dict(bad=v("A")), "winner 'A'", id="winner-upper-A"),
    pytest.param(dict(bad=v(None)), "winner None", id="winner-None-without-failed"),
    pytest.param(dict(bad=v("B ")), "winner 'B '", id="winner-B-with-space"),
    pytest.param(dict(bad=v(1)), "winner 1", id="winner-int-1"),
    pytest.param(dict(bad=v("a", failed="no")), "failed='no'", id="failed-not-a-bool"),
    pytest.param(dict(bad=v("a", failed=True)), "failed=True with winner 'a'", id="failed-with-a-winner"),
    pytest.param(dict(bad="a"), "returned 'a' (str), not a Verdict", id="bare-string"),
    pytest.param(dict(count=2), "returned 2 verdicts for 3 items", id="too-few-verdicts"),
    pytest.param(dict(count=4), "returned 4 verdicts for 3 items", id="too-many-verdicts"),
]


@pytest.mark.parametrize("kwargs, named", BAD_VERDICTS)
def test_bad_verdict_is_a_recorded_failure_never_a_win(kwargs, named):
    examples = [example(i) for i in range(3)]
    sft = [answer(sev="SEV1") for _ in examples]  # the rubric prefers DPO's right severity: a clean 1.0 each
    dpo = [answer() for _ in examples]
    pair = ev.pairwise(examples, sft, dpo, JunkJudge(**kwargs), progress=False)
    failed = [0, 1, 2] if "count" in kwargs else [0]
    assert np.isnan(pair["score"][failed]).all()  # missing data, never 0.0 (a win for b) nor 1.0
    assert pair.drop(index=failed)["score"].eq(1.0).all()  # the clean ones still count
    for i in failed:
        assert "junk-judge" in pair["error"][i] and named in pair["error"][i] and "\n" not in pair["error"][i]
    win = stats.win_rate(pair["score"], n_boot=200)
    assert (win["n"], win["missing"]) == (3 - len(failed), len(failed))


@pytest.mark.parametrize("winner", [
    pytest.param("A", id="logged-winner-A"), pytest.param(None, id="logged-None-without-failed"),
    pytest.param("B ", id="logged-winner-B-space"), pytest.param(1, id="logged-winner-int")])
def test_bad_logged_course_verdict_drops_the_prompt(winner):
    texts = [answer(), answer(sev="SEV1"), answer(sev="SEV3"), answer(sev="SEV4")]
    record = record_from(EX, texts, RubricJudge().score_many([(EX, t) for t in texts], False), v(winner),
                         judge_name="junk-judge")
    [pair] = prefs.select_pairs([record], {EX["id"]: EX["report"]}, "two_temperatures")
    assert pair["status"] == "judge_failed" and "chosen" not in pair
    assert "junk-judge" in pair["error"] and repr(winner) in pair["error"]


def s(score, failed=False):
    return Score(score, "junk", "junk-judge", failed=failed)


BAD_SCORES = [
    pytest.param(dict(bad=s("7")), "score '7' (str) is not a number", id="score-string-7"),
    pytest.param(dict(bad=s(True)), "score True (bool) is not a number", id="score-bool"),
    pytest.param(dict(bad=s(float("nan"))), "score nan is not a finite number", id="score-nan"),
    pytest.param(dict(bad=s(11)), "score 11 is outside the judge's scale 0 to 7.5", id="score-above-scale"),
    pytest.param(dict(bad=s(-1.0)), "score -1.0 is outside", id="score-below-scale"),
    pytest.param(dict(bad=s(None)), "score None (NoneType) is not a number", id="score-None-without-failed"),
    pytest.param(dict(bad=s(5.0, failed=True)), "failed=True with score 5.0", id="failed-with-a-score"),
    pytest.param(dict(count=3), "returned 3 scores for 4 items", id="too-few-scores"),
    pytest.param(dict(count=5), "returned 5 scores for 4 items", id="too-many-scores"),
]


@pytest.mark.parametrize("kwargs, named", BAD_SCORES)
def test_bad_score_is_a_recorded_failure_and_the_prompt_is_not_paired(kwargs, named):
    judge = JunkJudge(**kwargs)
    texts = [answer(), answer(sev="SEV1"), answer(sev="SEV3"), answer(sev="SEV4", comp="x")]
    items = [(EX, t) for t in texts]
    scores = checked_scores(judge.score_many(items), len(items), judge.name, *score_range(judge))
    bad = [0, 1, 2, 3] if "count" in kwargs else [0]
    assert all(scores[i].failed and scores[i].score is None and "junk-judge" in scores[i].error
               and named in scores[i].error for i in bad)
    [pair] = prefs.select_pairs([record_from(EX, texts, scores, judge_name=judge.name)], {EX["id"]: EX["report"]})
    assert pair["status"] == "judge_failed"
    # the same junk, logged by a sampler that did not check it, is caught when pairing too (except a number out of
    # the judge's scale: the log does not carry the scale, so that is caught only where the judge is known)
    raw = judge.score_many(items)
    if "count" not in kwargs and "outside" not in named:
        [unchecked] = prefs.select_pairs([record_from(EX, texts, raw, judge_name=judge.name)],
                                         {EX["id"]: EX["report"]})
        assert unchecked["status"] == "judge_failed" and "junk-judge" in unchecked["error"]


@pytest.mark.parametrize("bad, named", [
    pytest.param(Faithfulness(9, "junk", "junk-judge"), "score 9 is outside the judge's scale 1 to 5", id="faith-9"),
    pytest.param(Faithfulness("5", "junk", "junk-judge"), "score '5' (str)", id="faith-string"),
    pytest.param(Faithfulness(None, "junk", "junk-judge"), "score None", id="faith-None-without-failed"),
])
def test_bad_faithfulness_is_missing_in_session_c(bad, named):
    examples = [example(i) for i in range(2)]
    answers = {"SFT": [answer(), answer()], "SFT+DPO": [answer(), answer()]}
    scores = ev.per_prompt_scores(examples, answers, JunkJudge(bad=bad), progress=False)
    first = scores[scores["id"] == "f-0"]
    assert first["faithfulness"].isna().all() and all(named in e for e in first["faithfulness_error"])
    assert scores[scores["id"] == "f-1"]["faithfulness"].eq(5).all()


# ----------------------------------------------------------------------------- Session C with no judged pairs

class AlwaysFails(RubricJudge):
    name = "always-fails"

    def compare(self, example_, a, b):
        return Verdict(None, "judge call failed", self.name, failed=True, error="HTTP 529 OverloadedError")

    def faithfulness(self, example_, response):
        return Faithfulness(None, "judge call failed", self.name, failed=True, error="HTTP 529 OverloadedError")


def _session_c(judge, n):
    examples = [example(i) for i in range(n)]
    answers = {"Base": ["no idea"] * n, "SFT": [answer(sev="SEV1")] * n, "SFT+DPO": [answer()] * n}
    scores = ev.per_prompt_scores(examples, answers, judge, progress=False)
    pair = ev.pairwise(examples, answers["SFT"], answers["SFT+DPO"], judge, progress=False)
    return ev.three_way_table(scores, pair, n_boot=200)


@pytest.mark.parametrize("case", ["every-judge-call-failed", "claude-on-a-closed-port", "no-prompts"])
def test_session_c_without_judged_pairs_says_n_a_not_p_1(case, monkeypatch, tmp_path):
    if case == "claude-on-a-closed-port":
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        judge = ClaudeJudge(base_url=closed_port_url(), cache_dir=tmp_path, max_retries=0, timeout=2)
    else:
        judge = AlwaysFails()
    table = _session_c(judge, 0 if case == "no-prompts" else 3)
    pref = table.loc["Preferred (judge pairwise vs SFT)"]
    assert pref["n"] == 0 and math.isnan(pref["p (sign)"]) and math.isnan(pref["SFT+DPO"])
    shown = ev.display_table(table)
    row = shown.loc["Preferred (judge pairwise vs SFT)"]
    assert row["SFT+DPO"] == row["p (sign test)"] == row["Δ DPO over SFT"] == "n/a (no judged pairs)"
    assert shown.loc["Faithfulness (judge)", "p (sign test)"] == "n/a (no judged pairs)"
    judged = [line for line in ev.to_markdown(shown).splitlines() if "(judge" in line]
    assert len(judged) == 2 and not any("1.000" in line or "nan" in line or "%" in line for line in judged)
    flags = ev.failure_flags(table, {"final": {"rewards/margins": 0.3}})
    no_pairs = [f for f in flags if f.startswith("Preferred") and "n/a (no judged pairs)" in f]
    assert len(no_pairs) == 1
    assert ("ANTHROPIC_API_KEY" in no_pairs[0]) == (case != "no-prompts")
    assert not any("does not win pairwise" in f for f in flags)  # no rate, so no verdict on it either
    draft = ev.reflection_scaffold(table, flags, 10, judge.name)
    moved = draft.split("What moved:")[1].split("What the checks flagged:")[0]  # the numbers, not the flags
    judged = [line for line in moved.splitlines() if "Faithfulness" in line or "Pairwise" in line]
    assert len(judged) == 2 and all(line.rstrip(".").endswith("n/a (no judged pairs)") for line in judged)
    assert not re.search(r"\bnan\b", draft)


def test_session_c_with_some_failures_flags_the_missing_data():
    class FailsOnce(RubricJudge):
        name = "fails-once"

        def compare(self, example_, a, b):
            if example_["id"] == "f-0":
                return Verdict(None, "judge call failed", self.name, failed=True, error="HTTP 529")
            return super().compare(example_, a, b)

    table = _session_c(FailsOnce(), 4)
    assert table.loc["Preferred (judge pairwise vs SFT)", "n"] == 3
    flags = ev.failure_flags(table, None)
    assert any("1 pairwise judgements failed" in f and "n = 3" in f for f in flags)
    assert ev.display_table(table).loc["Preferred (judge pairwise vs SFT)", "p (sign test)"] == "0.250"


# ----------------------------------------------------------------------------- duplicate ids

def _dup_examples():
    return [example(1), example(2), {**example(3), "id": "f-1"}]


@pytest.mark.parametrize("call", [
    pytest.param(lambda ex: ev.pairwise(ex, ["x"] * 3, ["y"] * 3, RubricJudge(), progress=False), id="pairwise"),
    pytest.param(lambda ex: ev.per_prompt_scores(ex, {"SFT": ["x"] * 3}, RubricJudge(), progress=False),
                 id="per_prompt_scores"),
    pytest.param(lambda ex: ev.cached_answers("SFT", "no-model", None, ex, "/nonexistent"), id="cached_answers"),
    pytest.param(lambda ex: ev.wins_and_losses(ex, {"SFT": ["x"] * 3, "SFT+DPO": ["y"] * 3}, None),
                 id="wins_and_losses"),
    pytest.param(lambda ex: prefs.select_pairs([{**e, "samples": []} for e in ex], {}, "best_vs_worst"),
                 id="select_pairs"),
])
def test_duplicate_ids_are_an_error_naming_the_id(call):
    with pytest.raises(ValueError, match="duplicate example id 'f-1'"):
        call(_dup_examples())


def test_three_way_table_refuses_duplicate_rows():
    examples = [example(1), example(2)]
    answers = {"SFT": [answer()] * 2, "SFT+DPO": [answer()] * 2}
    scores = ev.per_prompt_scores(examples, answers, RubricJudge(), progress=False)
    pair = ev.pairwise(examples, answers["SFT"], answers["SFT+DPO"], RubricJudge(), progress=False)
    with pytest.raises(ValueError, match="duplicate example id 'f-1' for model 'SFT'"):
        ev.three_way_table(pd.concat([scores, scores.iloc[:1]]), pair, n_boot=100)
    with pytest.raises(ValueError, match="duplicate example id 'f-2'"):
        ev.three_way_table(scores, pd.concat([pair, pair.iloc[1:2]]), n_boot=100)


@pytest.mark.parametrize("first, second, named", [
    pytest.param(["x"] * 2, ["y"] * 3, "first has 2 answers for 3 examples", id="too-few-first-answers"),
    pytest.param(["x"] * 3, ["y"] * 4, "second has 4 answers for 3 examples", id="too-many-second-answers"),
])
def test_answer_count_mismatch_names_the_list(first, second, named):
    with pytest.raises(ValueError, match=named):
        ev.pairwise([example(i) for i in range(3)], first, second, RubricJudge(), progress=False)


# ----------------------------------------------------------------------------- a build that keeps too few pairs

def _dropped(status, i, error=None):
    return {"id": f"p-{i}", "severity": "SEV2", "status": status, "decided_by": "", "score_gap": None,
            **({"error": error} if error else {})}


@pytest.mark.parametrize("pairs, named", [
    pytest.param([], "there were no prompts", id="no-prompts"),
    pytest.param([_dropped("judge_failed", i, "HTTP 529 OverloadedError after retries") for i in range(3)],
                 "every judge call failed (3 of 3 prompts), e.g. HTTP 529", id="every-judge-call-failed"),
    pytest.param([_dropped("tie", 0), _dropped("identical", 1)], "every pair tied (2 of 2", id="every-pair-tied"),
    pytest.param([_dropped("tie", 0), _dropped("small_gap", 1), _dropped("small_gap", 2)],
                 "dropped: 2 score gap below min_score_gap, 1 tied", id="mixed-reasons"),
    pytest.param([_dropped("judge_failed", 0), _dropped("judge_failed", 1), _dropped("tie", 2)],
                 "most judge calls failed: check ANTHROPIC_API_KEY", id="mostly-judge-failures"),
])
def test_a_build_with_no_pairs_stops_with_the_reason(pairs, named):
    with pytest.raises(PreferenceDataError) as err:
        prefs.to_dataset(pairs)
    assert named in str(err.value) and "\n" not in str(err.value)


def test_too_few_pairs_is_refused_with_min_pairs():
    texts = [answer(), answer(sev="SEV1"), answer(sev="SEV3"), answer(sev="SEV4", comp="x")]
    record = record_from(EX, texts, RubricJudge().score_many([(EX, t) for t in texts], False), judge_name="rubric")
    pairs = prefs.select_pairs([record, {**record, "id": "f-2", "status": "judge_failed"}],
                               {EX["id"]: EX["report"], "f-2": EX["report"]})
    assert len(prefs.to_dataset(pairs)["train"]) == 1
    with pytest.raises(PreferenceDataError, match=r"only 1 usable preference pairs among 2 prompts \(min_pairs=5\)"):
        prefs.to_dataset(pairs, min_pairs=5)
    with pytest.raises(PreferenceDataError, match="all 1 prompts gave a pair, and that is too few"):
        prefs.to_dataset(pairs[:1], min_pairs=2)


def test_clean_results_pass_the_checks_unchanged():
    verdicts = [v("a"), v("b"), v("tie"), v(None, failed=True, error="HTTP 529")]
    assert checked_verdicts(verdicts, 4, "junk-judge") == verdicts
    scores = [s(0), s(7.5), s(3.25), s(np.float64(4.0)), s(None, failed=True)]
    checked = checked_scores(scores, 5, "junk-judge", *score_range(RubricJudge()))
    assert [c.score for c in checked] == [0, 7.5, 3.25, 4.0, None]
    assert [c.failed for c in checked] == [False, False, False, False, True]
    assert "reported a failure without an error message" in checked[4].error  # a failure always says why
