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
