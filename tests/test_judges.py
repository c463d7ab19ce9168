import json

import pytest

from helpers import judges
from helpers.judges import ClaudeJudge, RubricJudge, make_judge

from .fake_anthropic import FakeAnthropic

EX = {"id": "t-1", "report": "[ALERT] search-api unavailable in eu-west-1: all requests return HTTP 503 for 20 "
      "minutes. Other regions are healthy.", "severity": "SEV2", "component": "search-api",
      "summary": "search-api has been unavailable in eu-west-1 for 20 minutes."}


def answer(sev="SEV2", comp="search-api", summary="search-api is unavailable in eu-west-1 for 20 minutes."):
    return json.dumps({"severity": sev, "component": comp, "summary": summary})


# ----------------------------------------------------------------------------- rubric judge

@pytest.mark.parametrize("a, b, winner, rule", [
    (answer(), "search is down, SEV2", "a", "format"),
    (answer(sev="SEV1"), answer(), "b", "severity"),
    (answer(comp="eu-west-1"), answer(), "b", "component"),
    (answer(summary="search-api failed in us-east-1 for 45 minutes."), answer(), "b", "faithfulness"),
    (answer(summary="search-api is unavailable in eu-west-1 for 20 minutes while other regions are healthy "
            "and requests return HTTP 503."), answer(summary="search-api is down in eu-west-1."), "b", "concision"),
    (answer(), answer(), "tie", "tie"),
])
def test_rubric_judge_names_the_deciding_rule(a, b, winner, rule):
    v = RubricJudge().compare(EX, a, b)
    assert (v.winner, v.details["rule"]) == (winner, rule)
    assert v.rationale.startswith(rule) or rule == "tie"
    flipped = RubricJudge().compare(EX, b, a)  # symmetric: no position bias
    assert flipped.winner == {"a": "b", "b": "a", "tie": "tie"}[winner]


def test_rubric_faithfulness_counts_invented_facts():
    j = RubricJudge()
    assert j.faithfulness(EX, answer()).score == 5
    bad = j.faithfulness(EX, answer(summary="search-api failed in us-east-1 for 45 minutes, said Priya."))
    assert bad.score == 2 and "us-east-1" in bad.rationale and "45" in bad.rationale and "Priya" in bad.rationale
    assert j.faithfulness(EX, "").score == 1
    assert j.faithfulness(EX, "search-api in eu-west-1 returns HTTP 503").score == 5  # prose is checked too


def test_gold_summaries_score_five():
    from helpers.task import format_answer, load_split

    j = RubricJudge()
    scores = [j.faithfulness(e, format_answer(e["severity"], e["component"], e["summary"])).score
              for e in load_split("eval")]
    assert min(scores) == 5


# ----------------------------------------------------------------------------- choosing a judge

def test_auto_picks_rubric_without_a_key(monkeypatch, capsys):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert isinstance(make_judge("auto"), RubricJudge)
    assert "no ANTHROPIC_API_KEY" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="ANTHROPIC_API_KEY"):
        make_judge("claude")
    with pytest.raises(ValueError, match="unknown judge"):
        make_judge("gpt")


def test_auto_picks_claude_with_a_key_and_never_prints_it(monkeypatch, capsys, tmp_path):
    secret = "sk-ant-test-DO-NOT-PRINT-1234"
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    with FakeAnthropic() as server:
        judge = make_judge("auto", base_url=server.url, cache_dir=tmp_path)
        assert isinstance(judge, ClaudeJudge)
        judge.compare(EX, answer(summary="GOOD"), answer())
        headers = server.requests[0]["headers"]
        assert secret in headers.get("x-api-key", "") + headers.get("authorization", "")  # the SDK sent it ...
    out = capsys.readouterr()
    assert secret not in out.out + out.err  # ... and nothing printed it
    assert all(secret not in p.read_text() for p in tmp_path.iterdir())  # nor wrote it to the cache


# ----------------------------------------------------------------------------- Claude judge against a local server

@pytest.fixture
def claude(monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    with FakeAnthropic() as server:
        judge = ClaudeJudge(base_url=server.url, cache_dir=tmp_path / "cache", max_retries=2, concurrency=3)
        yield judge, server


def test_claude_compares_in_both_orders(claude):
    judge, server = claude
    v = judge.compare(EX, answer(summary="GOOD one"), answer())
    assert v.winner == "a" and not v.failed
    assert v.details == {"order_ab": "a", "order_ba": "a", "position_disagreement": False}
    bodies = [r["body"] for r in server.requests]
    assert len(bodies) == 2 and bodies[0]["model"] == "claude-opus-4-7"
    assert bodies[0]["output_config"]["format"]["type"] == "json_schema"
    first_shown = [b["messages"][0]["content"].split("Answer A:\n")[1].split("\n\nAnswer B")[0] for b in bodies]
    assert first_shown[0] != first_shown[1]  # the second call swapped the order
    assert judge.compare(EX, answer(), answer(summary="GOOD")).winner == "b"


def test_position_bias_becomes_a_tie(claude):
    judge, _ = claude
    v = judge.compare({**EX, "report": EX["report"] + " FIRST_WINS"}, answer(), answer(sev="SEV1"))
    assert v.winner == "tie" and v.details["position_disagreement"]


def test_cache_makes_a_rerun_free(claude):
    judge, server = claude
    judge.compare(EX, answer(summary="GOOD"), answer())
    n = len(server.requests)
    again = judge.compare(EX, answer(summary="GOOD"), answer())
    assert again.winner == "a" and len(server.requests) == n and judge.usage["cached"] == 2


def test_rate_limit_is_retried_by_the_sdk(claude):
    judge, server = claude
    v = judge.compare({**EX, "report": EX["report"] + " RATE_ONCE"}, answer(summary="GOOD"), answer())
    assert v.winner == "a" and not v.failed
    assert len([r for r in server.requests if "/count_tokens" not in r["path"]]) == 4  # 2 calls, each 429 then 200


@pytest.mark.parametrize("marker, error", [("OVERLOADED", "529"), ("BROKEN", "500"), ("MALFORMED", "not JSON"),
                                           ("EMPTY", "no text")])
def test_failures_are_recorded_never_counted_as_verdicts(claude, marker, error):
    judge, server = claude
    v = judge.compare({**EX, "report": EX["report"] + " " + marker}, answer(summary="GOOD"), answer())
    assert v.failed and v.winner is None and error in v.error
    f = judge.faithfulness({**EX, "report": EX["report"] + " " + marker}, answer(summary="GOOD"))
    assert f.failed and f.score is None
    if marker in ("OVERLOADED", "BROKEN"):
        assert len(server.requests) == 3 + 3  # 1 + 2 retries, for the compare and the faithfulness call
    assert not list((judge.cache_dir).glob("*.json"))  # failures are not cached


def test_concurrent_batch_of_judgements(claude):
    judge, server = claude
    items = [({**EX, "id": str(i), "report": EX["report"] + f" #{i}" + (" BROKEN" if i == 3 else "")},
              answer(summary=f"GOOD {i}"), answer()) for i in range(8)]
    verdicts = judge.compare_many(items, progress=False)
    assert [v.winner for v in verdicts] == ["a"] * 3 + [None] + ["a"] * 4
    assert judge.usage["failed"] == 1


def test_faithfulness_scores(claude):
    judge, _ = claude
    assert judge.faithfulness(EX, answer(summary="GOOD")).score == 5
    assert judge.faithfulness(EX, answer()).score == 2


def test_token_estimate_uses_count_tokens(claude):
    judge, server = claude
    items = [({**EX, "report": EX["report"] + f" #{i}"}, answer(summary="GOOD"), answer()) for i in range(10)]
    est = judge.estimate(items, sample=3)
    assert est["requests"] == 20 and est["input_tokens"] > 0 and est["usd"] > 0
    assert any("/count_tokens" in r["path"] for r in server.requests)
    judge.compare_many(items, progress=False)
    assert judge.estimate(items)["requests"] == 0  # all cached now


def test_message_batches_api(claude):
    judge, server = claude
    items = [({**EX, "report": EX["report"] + f" #{i}"}, answer(), answer(summary="GOOD")) for i in range(3)]
    verdicts = judge.compare_batch(items, poll_s=0)
    assert [v.winner for v in verdicts] == ["b"] * 3
    assert len(server.batches) == 1 and len(server.batches["msgbatch_0"]["requests"]) == 6
    assert not [r for r in server.requests if r["path"].startswith("/v1/messages?") or r["path"] == "/v1/messages"]


def test_reply_parsing_is_robust():
    class Block:
        def __init__(self, text):
            self.type, self.text = "text", text

    class Msg:
        def __init__(self, *texts):
            self.content = [Block(t) for t in texts]

    assert judges.parse_reply(Msg('```json\n{"winner": "B", "rationale": "x"}\n```')) == {"winner": "B",
                                                                                          "rationale": "x"}
    assert judges.parse_reply(Msg("Sure.", '{"winner": "tie", "rationale": "same"}'))["winner"] == "tie"
    with pytest.raises(judges.JudgeCallError):
        judges.parse_reply(Msg("A is better"))
    assert judges._winner({"winner": "answer a"}) == "A"
    with pytest.raises(judges.JudgeCallError):
        judges._winner({"winner": "both"})


# ----------------------------------------------------------------------------- the package keeps the old names

def test_every_old_name_is_still_importable_from_helpers_judges():
    old = ["VERDICTS", "Verdict", "Faithfulness", "unsupported_facts", "rubric_faithfulness", "RubricJudge",
           "JUDGE_PROMPT_VERSION", "PRICE_PER_MTOK", "MAX_RESPONSE_CHARS", "JUDGE_SYSTEM", "COMPARE_SCHEMA",
           "FAITH_SCHEMA", "JudgeCallError", "ClaudeJudge", "parse_reply", "_winner", "make_judge"]
    new = ["Score", "SCORE_WEIGHTS", "SCORE_MAX", "SCORE_SCHEMA", "deciding_part", "JUDGE_KINDS", "JudgeResult"]
    assert [n for n in old + new + judges.__all__ if not hasattr(judges, n)] == []
    from helpers.judges import claude, common, rubric

    assert judges.RubricJudge is rubric.RubricJudge and judges.ClaudeJudge is claude.ClaudeJudge
    assert judges.Score is common.Score and claude.Score is common.Score


def test_make_judge_takes_exactly_the_judge_kinds(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert judges.JUDGE_KINDS == ("auto", "rubric", "claude")
    assert isinstance(make_judge("rubric"), RubricJudge) and isinstance(make_judge("auto", verbose=False), RubricJudge)
    with pytest.raises(RuntimeError):  # a known kind: refused for the missing key, not as unknown
        make_judge("claude")
    for kind in ("Rubric", "", None, "gpt"):
        with pytest.raises(ValueError, match="choose 'auto', 'rubric' or 'claude'"):
            make_judge(kind)


def test_every_result_keeps_its_value_first_and_its_fields():
    v, f, s = judges.Verdict("a", "why", "j"), judges.Faithfulness(5, "why", "j"), judges.Score(7.5, "why", "j")
    shared = {"rationale": "why", "judge": "j", "failed": False, "error": None}
    assert v.to_dict() == {"winner": "a", **shared, "details": {}}
    assert f.to_dict() == {"score": 5, **shared}
    assert s.to_dict() == {"score": 7.5, **shared, "details": {}}
    bad = judges.Score.failure("j", "HTTP 529")
    assert (bad.score, bad.failed, bad.error, bad.rationale) == (None, True, "HTTP 529", "judge call failed")
    assert all(isinstance(r, judges.JudgeResult) for r in (v, f, s))


# ----------------------------------------------------------------------------- rubric scores

FENCED = "```json\n" + answer() + "\n```"  # right severity, component and facts; not strictly valid (a fence)
INVENTED = "search-api failed in us-east-1 for 45 minutes at 22:10, said Priya."  # 5 facts not in the report


def test_rubric_score_weights_are_as_documented():
    assert judges.SCORE_WEIGHTS == {"severity": 4.0, "format": 1.5, "component": 1.0, "faithfulness": 1.0}
    assert judges.SCORE_MAX == 7.5
    w = judges.SCORE_WEIGHTS
    assert w["severity"] > w["format"] + w["component"] + w["faithfulness"]  # 4 > 3.5
    perfect = RubricJudge().score(EX, answer())
    assert perfect.score == 7.5 and not perfect.failed and perfect.judge == "rubric"
    assert perfect.rationale == ("7.5/7.5: severity SEV2 right (+4), valid format (+1.5), component right (+1), "
                                 "faithfulness 5/5 (+1)")
    assert perfect.details == {"severity": True, "format": True, "component": True, "faithfulness": 5,
                               "length": len(answer()),
                               "parts": {"severity": 4.0, "format": 1.5, "component": 1.0, "faithfulness": 1.0}}


@pytest.mark.parametrize("response, score, parts", [
    (answer(), 7.5, (4, 1.5, 1, 1)),
    (answer(sev="SEV1"), 3.5, (0, 1.5, 1, 1)),
    (FENCED, 6.0, (4, 0, 1, 1)),
    (answer(comp="eu-west-1"), 6.5, (4, 1.5, 0, 1)),
    (answer(summary="search-api failed in us-east-1 for 20 minutes."), 7.25, (4, 1.5, 1, 0.75)),  # 4/5
    (answer(sev="SEV4", comp="eu-west-1", summary=INVENTED), 1.5, (0, 1.5, 0, 0)),
    ("", 0.0, (0, 0, 0, 0)),
])
def test_rubric_score_sums_its_parts(response, score, parts):
    s = RubricJudge().score(EX, response)
    assert s.score == score
    assert tuple(s.details["parts"].values()) == parts
    assert s.score == sum(s.details["parts"].values())


def test_right_severity_with_broken_format_outranks_wrong_severity_with_perfect_format():
    worst_right = "```json\n" + answer(comp="eu-west-1", summary=INVENTED) + "\n```"  # 4 + 0 + 0 + 0
    best_wrong = answer(sev="SEV1")  # 0 + 1.5 + 1 + 1
    j = RubricJudge()
    a, b = j.score(EX, worst_right), j.score(EX, best_wrong)
    assert (a.score, b.score) == (4.0, 3.5)
    assert a.details["severity"] and not a.details["format"] and a.details["faithfulness"] == 1
    assert "severity SEV2 right (+4)" in a.rationale and "invalid format (JSON wrapped in a code fence" in a.rationale
    assert "severity SEV1 wrong (gold SEV2)" in b.rationale and "component right (+1)" in b.rationale
    assert judges.deciding_part(a.details, b.details) == "severity"
    assert j.compare(EX, worst_right, best_wrong).winner == "b"  # the pairwise rules (format first) disagree
    assert [s.score for s in j.score_many([(EX, worst_right), (EX, best_wrong)], progress=False)] == [4.0, 3.5]


@pytest.mark.parametrize("a, b, part", [
    (answer(), answer(sev="SEV3"), "severity"),
    (answer(), FENCED, "format"),
    (answer(sev="SEV1"), "```json\n" + answer(sev="SEV1") + "\n```", "format"),
    (answer(), answer(comp="eu-west-1"), "component"),
    (answer(), answer(summary="search-api failed in us-east-1 for 20 minutes."), "faithfulness"),
    (answer(), answer(summary="search-api is down in eu-west-1 for 20 minutes."), "length"),
    (answer(), answer(), "none"),
])
def test_deciding_part_names_what_made_the_winner_win(a, b, part):
    j = RubricJudge()
    da, db = j.score(EX, a).details, j.score(EX, b).details
    assert judges.deciding_part(da, db) == part


def test_deciding_part_is_the_largest_gain_not_the_heaviest_difference():
    # b has the valid format (+1.5) but a wins on component (+1) and faithfulness (+1): 7.5 - 1.5 vs 1.5
    a, b = "```json\n" + answer() + "\n```", answer(comp="eu-west-1", summary=INVENTED)
    j = RubricJudge()
    sa, sb = j.score(EX, a), j.score(EX, b)
    assert sa.score > sb.score
    assert judges.deciding_part(sa.details, sb.details) == "component"  # component and faithfulness tie: heavier first


# ----------------------------------------------------------------------------- Claude scores

def test_claude_scores_one_answer_with_the_rubric_and_reference(claude):
    judge, server = claude
    s = judge.score(EX, answer(summary="GOOD"))
    assert (s.score, s.failed, s.error, s.judge) == (9, False, None, "claude:claude-opus-4-7")
    assert s.rationale == "follows the rubric"
    assert judge.score(EX, answer()).score == 4
    body = server.requests[0]["body"]
    assert body["system"] == judges.JUDGE_SYSTEM
    assert body["output_config"]["format"] == {"type": "json_schema", "schema": judges.SCORE_SCHEMA}
    assert judges.SCORE_SCHEMA["properties"]["score"] == {"type": "integer", "enum": list(range(1, 11))}
    text = body["messages"][0]["content"]
    assert "Score the answer from 1 to 10" in text and answer(summary="GOOD") in text
    assert "Reference labels (from the dataset): severity SEV2, component search-api." in text
    assert judge.usage["calls"] == 2 and judge.usage["input_tokens"] == 200 and judge.usage["output_tokens"] == 40
    assert s.to_dict() == {"score": 9, "rationale": "follows the rubric", "judge": "claude:claude-opus-4-7",
                           "failed": False, "error": None, "details": {}}


def test_claude_score_without_reference(monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    with FakeAnthropic() as server:
        judge = ClaudeJudge(base_url=server.url, cache_dir=tmp_path, use_reference=False)
        assert judge.score(EX, answer(summary="GOOD")).score == 9
        assert "Reference labels" not in server.requests[0]["body"]["messages"][0]["content"]


def test_claude_score_is_cached(claude):
    judge, server = claude
    first = judge.score(EX, answer(summary="GOOD"))
    n = len(server.requests)
    assert n == 1 and len(list(judge.cache_dir.glob("*.json"))) == 1
    again = judge.score(EX, answer(summary="GOOD"))
    assert again == first and len(server.requests) == n
    assert judge.usage["calls"] == 1 and judge.usage["cached"] == 1


@pytest.mark.parametrize("marker, error", [("OVERLOADED", "HTTP 529"), ("BROKEN", "HTTP 500"),
                                           ("MALFORMED", "not JSON"), ("EMPTY", "no text"),
                                           ("SCORE_11", "no integer score from 1 to 10"),
                                           ("SCORE_STRING", "no integer score"), ("SCORE_FLOAT", "no integer score"),
                                           ("SCORE_BOOL", "no integer score"), ("SCORE_MISSING", "no integer score")])
def test_failed_claude_score_is_none_never_a_number(claude, marker, error):
    judge, server = claude
    s = judge.score(EX, answer(summary=f"GOOD {marker}"))
    assert s.failed and s.score is None and error in s.error and s.rationale == "judge call failed"
    assert judge.usage["failed"] == 1
    assert not list(judge.cache_dir.glob("*.json"))  # an unusable reply is not cached: the next run asks again
    n = len(server.requests)
    assert judge.score(EX, answer(summary=f"GOOD {marker}")).failed and len(server.requests) > n


def test_claude_score_many_in_parallel(claude):
    judge, _ = claude
    items = [(EX, answer(summary=f"GOOD {i}" + (" BROKEN" if i == 2 else ""))) for i in range(6)]
    items.append((EX, answer()))
    scores = judge.score_many(items, progress=False)
    assert [s.score for s in scores] == [9, 9, None, 9, 9, 9, 4]
    assert scores[2].failed and judge.usage["failed"] == 1


def test_claude_score_many_through_the_batch_api(monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    with FakeAnthropic() as server:
        judge = ClaudeJudge(base_url=server.url, cache_dir=tmp_path, use_batch_api=True, max_retries=0)
        items = [(EX, answer(summary="GOOD")), (EX, answer()), (EX, answer(summary="BROKEN")),
                 (EX, answer(summary="SCORE_11")), (EX, answer(summary="GOOD"))]  # the last repeats the first
        scores = judge.score_many(items, progress=False)
        assert [s.score for s in scores] == [9, 4, None, None, 9]
        assert "batch request errored (api_error)" in scores[2].error
        assert "no integer score from 1 to 10" in scores[3].error
        assert len(server.batches) == 1 and len(server.batches["msgbatch_0"]["requests"]) == 4  # deduplicated
        live = [r for r in server.requests if r["path"].split("?")[0] == "/v1/messages"]
        assert live == []  # everything through the batch, failures included
        assert len(list(tmp_path.glob("*.json"))) == 2 and judge.usage["failed"] == 2
        judge.score_many(items, progress=False)  # a re-run sends only the two failures again
        assert len(server.batches["msgbatch_1"]["requests"]) == 2


def test_compare_batch_failures_are_not_sent_live(claude):
    judge, server = claude
    items = [(EX, answer(), answer(summary="GOOD")), ({**EX, "report": EX["report"] + " BROKEN"}, answer(), "x")]
    verdicts = judge.compare_batch(items, poll_s=0)
    assert verdicts[0].winner == "b" and verdicts[1].failed and verdicts[1].winner is None
    assert "batch request errored" in verdicts[1].error
    assert not [r for r in server.requests if r["path"].split("?")[0] == "/v1/messages"]


def test_estimate_scores_uses_count_tokens(claude):
    judge, server = claude
    items = [({**EX, "report": EX["report"] + f" #{i}"}, answer(summary="GOOD")) for i in range(7)]
    est = judge.estimate_scores(items, sample=3)
    assert est["requests"] == 7 and est["input_tokens"] > 0 and est["output_tokens"] == 7 * 80 and est["usd"] > 0
    counted = [r for r in server.requests if "/count_tokens" in r["path"]]
    assert len(counted) == 3 and "max_tokens" not in counted[0]["body"]
    assert "Score the answer from 1 to 10" in counted[0]["body"]["messages"][0]["content"]
    judge.score_many(items[:4], progress=False)
    assert judge.estimate_scores(items)["requests"] == 3  # cached answers cost nothing
    judge.score_many(items, progress=False)
    assert judge.estimate_scores(items) == {"requests": 0, "input_tokens": 0, "output_tokens": 0, "usd": 0.0}


def test_estimates_return_an_error_instead_of_raising(monkeypatch, tmp_path):
    import socket

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    judge = ClaudeJudge(base_url=f"http://127.0.0.1:{port}", cache_dir=tmp_path, max_retries=0, timeout=5)
    cmp = judge.estimate([(EX, answer(), answer(summary="GOOD"))])
    score = judge.estimate_scores([(EX, answer())])
    assert cmp["error"].startswith("estimate not computed: token count failed: APIConnectionError (")
    assert "refused" in cmp["error"].lower() and "\n" not in cmp["error"]  # the network's reason, one line
    assert (cmp["requests"], score["requests"]) == (2, 1)
    with FakeAnthropic() as server:
        judge = ClaudeJudge(base_url=server.url, cache_dir=tmp_path, max_retries=0)
        broken = {**EX, "report": EX["report"] + " BROKEN"}
        assert judge.estimate_scores([(broken, answer())]) == {
            "error": "estimate not computed: token count failed: HTTP 500 InternalServerError", "requests": 1}
        assert judge.estimate([(broken, answer(), "x")])["error"].startswith(
            "estimate not computed: token count failed: HTTP 500")


def test_compare_rules_lists_every_rule_in_the_order_compare_tries_them():
    from helpers.judges.rubric import COMPARE_RULES

    assert COMPARE_RULES == ("format", "severity", "component", "faithfulness", "concision", "tie")
    assert RubricJudge().compare(EX, answer(sev="SEV1"), "not json").details["rule"] == "format"  # format first
