"""The API key never leaves the environment: `redact` on the shapes the SDK's errors take, and end to end through
the real judge (the `anthropic` SDK against the local fake API) and the sampling log, with a key pasted with a
trailing newline, which the HTTP layer rejects and quotes ("Illegal header value b'Bearer sk-ant-...\\n'")."""

import json

import pytest

from helpers import preferences as prefs
from helpers.judges import ClaudeJudge, JudgeCallError, Score, Verdict, checked_score
from helpers.preferences import sampling
from helpers.secrets import REDACTED, redact

from .fake_anthropic import FakeAnthropic

KEYS = [
    pytest.param("sk-ant-api03-AbCdEfGh_12345-XYZ\n", id="trailing-newline"),
    pytest.param("sk-ant-api03-AbCdEfGh_12345-XYZ ", id="trailing-space"),
    pytest.param(" sk-ant-api03-AbCdEfGh_12345-XYZ", id="leading-space"),
    pytest.param("sk-ant-api03-AbCdEfGh\n_12345-XYZ", id="inner-newline"),
    pytest.param("sk-ant-api03-AbCdEfGh_12345-XYZ\r\n", id="trailing-crlf"),
    pytest.param("proxy-token-QwErTy987654\n", id="not-sk-ant-shaped"),
    pytest.param("proxy-token-QwErTy98\n7654-tail-ZZZZ", id="not-sk-ant-inner-newline"),
]

# the shapes in which an SDK / HTTP error quotes the key (or the header carrying it)
MESSAGES = [
    pytest.param(lambda k: f"Illegal header value {('Bearer ' + k).encode()!r}", id="h11-bearer-bytes"),
    pytest.param(lambda k: f"Illegal header value {k.encode()!r}", id="h11-bytes"),
    pytest.param(lambda k: f"APIConnectionError (Illegal header value {k!r}) after retries", id="str-repr"),
    pytest.param(lambda k: str({"x-api-key": k, "anthropic-version": "2023-06-01"}), id="headers-dict"),
    pytest.param(lambda k: str([(b"x-api-key", k.encode())]), id="headers-raw-list"),
    pytest.param(lambda k: f"x-api-key: {k}", id="header-line"),
    pytest.param(lambda k: f"x-api-key={k}", id="header-assign"),
    pytest.param(lambda k: f"Authorization: Bearer {k}", id="authorization"),
    pytest.param(lambda k: json.dumps({"error": f"bad key {k}"}), id="json-escaped"),
    pytest.param(lambda k: f"the key {k} was refused", id="raw"),
]


def forms(key: str) -> set[str]:
    """Every spelling of `key` that must not survive: raw, stripped, each piece, str/bytes/JSON-escaped."""
    values = {key, key.strip(), *(p for p in key.split() if len(p) >= 8)}
    out = set()
    for v in values:
        out |= {v, repr(v)[1:-1], repr(v.encode())[2:-1], json.dumps(v)[1:-1]}
    return {f for f in out if f.strip()}


@pytest.mark.parametrize("message", MESSAGES)
@pytest.mark.parametrize("key", KEYS)
def test_no_spelling_of_the_key_survives(monkeypatch, key, message):
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    text = message(key)
    assert any(f in text for f in forms(key))  # the message does carry the key before redaction
    out = redact(text)
    assert not [f for f in forms(key) if f in out], out
    assert REDACTED in out
    assert redact(out) == out  # redacting twice changes nothing


HEADER_SHAPED = [  # no key in the environment: the header shapes alone are enough
    pytest.param("Illegal header value b'Bearer sk-ant-api03-XXXX\\n'", "sk-ant-api03-XXXX", id="bearer-bytes"),
    pytest.param("{'x-api-key': 'sk-ant-api03-YYYY'}", "sk-ant-api03-YYYY", id="x-api-key-dict"),
    pytest.param("x-api-key: opaque-value-123", "opaque-value-123", id="x-api-key-line"),
    pytest.param("X-Api-Key=opaque-value-456", "opaque-value-456", id="x-api-key-assign-case"),
    pytest.param("Bearer opaque.token/789", "opaque.token/789", id="bearer-opaque"),
    pytest.param("found sk-ant-admin01-Z_z-9 in the text", "sk-ant-admin01-Z_z-9", id="sk-ant-anywhere"),
]


@pytest.mark.parametrize("text, secret", HEADER_SHAPED)
def test_header_values_are_redacted_without_the_key_set(monkeypatch, text, secret):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    out = redact(text)
    assert secret not in out and REDACTED in out, out


ORDINARY = [
    "",
    "HTTP 529 OverloadedError after retries",
    "APIConnectionError ([Errno 111] Connection refused) after retries",
    "reply is not JSON: 'the service is down'",
    "reply has no integer score from 1 to 10: {'score': 11}",
    "API unreachable: 3 calls in a row got no connection (APIConnectionError); not called (check the network and "
    "ANTHROPIC_BASE_URL, then re-run: failures are retried)",
    "judge junk-judge returned failed=True with score 7: recorded as a failure",
    "every judge call failed: check ANTHROPIC_API_KEY",
]


@pytest.mark.parametrize("key", [None, "sk-ant-api03-AbCdEfGh_12345-XYZ\n", "short"])
@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_unchanged(monkeypatch, text, key):
    if key is None:
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    else:
        monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    assert redact(text) == text


class Unprintable:
    def __str__(self):
        raise ValueError("no")


@pytest.mark.parametrize("value, expected", [(None, "None"), (529, "529"), (Unprintable(), REDACTED)])
def test_redact_never_raises(value, expected):
    assert redact(value) == expected


def test_every_way_an_error_is_recorded_is_redacted(monkeypatch):
    key = "sk-ant-api03-AbCdEfGh_12345-XYZ\n"
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    quoted = f"Illegal header value {key.encode()!r}"
    assert key.strip() not in str(JudgeCallError(quoted))
    assert key.strip() not in Score.failure("j", quoted).error
    assert key.strip() not in Verdict(None, "r", "j", failed=True, error=quoted).error
    custom = Score(None, "r", "j", failed=True)
    custom.error = quoted  # a learner's judge setting the field after the fact: caught at the checks
    assert key.strip() not in (checked_score(custom, "j").error or "")


# ----------------------------------------------------------------------------- end to end, real SDK

BAD_KEY = "sk-ant-test-KEY123456\n"
EX = {"id": "s-1", "report": "[ALERT] search-api unavailable in eu-west-1", "severity": "SEV2",
      "component": "search-api", "summary": "search-api is unavailable in eu-west-1.", "hard_case": False}


def assert_no_key(text: str) -> None:
    leaks = [f for f in forms(BAD_KEY) if f in text]
    assert not leaks, text


@pytest.fixture
def bad_key_judge(monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_API_KEY", BAD_KEY)
    with FakeAnthropic() as server:
        yield ClaudeJudge(base_url=server.url, cache_dir=tmp_path / "cache", max_retries=0, timeout=5,
                          concurrency=1, unreachable_after=100)


def test_a_key_with_a_newline_never_reaches_a_judge_result(bad_key_judge, capsys):
    judge = bad_key_judge
    score = judge.score(EX, "an answer")
    verdict = judge.compare(EX, "answer a", "answer b")
    faith = judge.faithfulness(EX, "an answer")
    estimate = judge.estimate_scores([(EX, "another answer")])
    for result in (score, verdict, faith):
        assert result.failed and "Illegal header value" in result.error and REDACTED in result.error
        assert_no_key(result.error)
        assert_no_key(json.dumps(result.to_dict()))
    assert REDACTED in estimate["error"]
    assert_no_key(estimate["error"])
    out = capsys.readouterr()
    assert_no_key(out.out + out.err)


def test_a_key_with_a_newline_never_reaches_the_samples_log(bad_key_judge, monkeypatch, tmp_path, capsys):
    def fake_sample_n(model, tokenizer, prompts, temperatures, on_batch=None, **kwargs):
        answers = [[f"answer {i}.{k}" for k in range(len(temperatures))] for i in range(len(prompts))]
        on_batch(list(range(len(prompts))), answers)
        return answers

    monkeypatch.setattr(sampling, "sample_n", fake_sample_n)
    monkeypatch.setattr(sampling, "format_prompt", lambda tokenizer, report: report)
    out = tmp_path / "samples.jsonl"
    examples = [EX, {**EX, "id": "s-2", "report": EX["report"] + " #2"}]
    records = prefs.sample_and_score(examples, None, None, bad_key_judge, out, temperatures=(0.7, 1.2),
                                     max_new_tokens=8, batch_size=4, chunk_size=2, seed=0, progress=True)
    assert {r["status"] for r in records} == {"judge_failed"}
    log = out.read_text()
    assert "Illegal header value" in log and REDACTED in log
    assert_no_key(log)
    assert_no_key(json.dumps(records))
    printed = capsys.readouterr()
    assert_no_key(printed.out + printed.err)
