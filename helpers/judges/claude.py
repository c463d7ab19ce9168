"""The Claude judge: the Anthropic Messages API through the official `anthropic` SDK.

This file exists because calling a paid, rate-limited remote judge needs machinery the rubric judge does not:
prompts and JSON schemas for structured output, an on-disk cache (a re-run costs nothing), bounded concurrency,
the SDK's retries, the Message Batches API, token and cost estimates, and strict reading of replies. A call that
still fails after the SDK's retries, or whose reply cannot be read, is recorded as a failure, never as a verdict
or a score.

The API key is read by the SDK from the environment only; this module never prints, logs or stores it.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from helpers.judges.common import Faithfulness, Score, Verdict
from helpers.paths import ARTIFACTS
from helpers.progress import tqdm
from helpers.task import RUBRIC, _first_json_object

JUDGE_PROMPT_VERSION = "v1"
# USD per million tokens, for the printed estimate only; check the current price list before a large run.
PRICE_PER_MTOK = {"claude-opus-4-7": (5.0, 25.0)}
MAX_RESPONSE_CHARS = 2000
OUTPUT_TOKENS_PER_REQUEST = 80  # for the estimate: a one-sentence rationale and a verdict or a score

_RUBRIC_TEXT = "\n".join(f"- {k}: {v}" for k, v in RUBRIC.items())
JUDGE_SYSTEM = (
    "You are a senior site-reliability engineer grading answers to an incident-triage task. The model under test "
    "reads an incident report and must answer with exactly one JSON object: "
    '{"severity": "SEV1|SEV2|SEV3|SEV4", "component": "<service named in the report>", '
    '"summary": "<one sentence with only facts from the report>"}.\nSeverity rubric:\n' + _RUBRIC_TEXT + "\n"
    "Judge, in order of importance: a valid JSON answer in the required shape; the right severity; the right "
    "component; a summary that states only facts found in the report; concision. Be strict and impartial: the "
    "order in which answers are shown and their length must not sway you."
)
COMPARE_SCHEMA = {
    "type": "object",
    "properties": {"rationale": {"type": "string"}, "winner": {"type": "string", "enum": ["A", "B", "tie"]}},
    "required": ["rationale", "winner"], "additionalProperties": False,
}
FAITH_SCHEMA = {
    "type": "object",
    "properties": {"rationale": {"type": "string"}, "score": {"type": "integer", "enum": [1, 2, 3, 4, 5]}},
    "required": ["rationale", "score"], "additionalProperties": False,
}
# An enum, not minimum/maximum: structured outputs reject numeric bounds on integers.
SCORE_SCHEMA = {
    "type": "object",
    "properties": {"rationale": {"type": "string"}, "score": {"type": "integer", "enum": list(range(1, 11))}},
    "required": ["rationale", "score"], "additionalProperties": False,
}


def _clip(text: str) -> str:
    text = text or ""
    return text if len(text) <= MAX_RESPONSE_CHARS else text[:MAX_RESPONSE_CHARS] + " [... truncated]"


def _reference(example: dict, use_reference: bool) -> str:
    if not use_reference:
        return ""
    return (f"\nReference labels (from the dataset): severity {example['severity']}, "
            f"component {example['component']}.")


class JudgeCallError(RuntimeError):
    """A judge call that failed after the SDK's retries, or whose reply could not be read."""


def parse_reply(message) -> dict:
    """The JSON object in a Messages API reply (structured output), read robustly: text blocks joined, code
    fences and stray prose tolerated. Raises JudgeCallError when no usable object is there."""
    if isinstance(message, (str, bytes)):  # the SDK hands back a non-JSON body (a proxy's HTML page) as text
        raise JudgeCallError(f"reply is not a Messages API message: {str(message)[:80]!r}")
    texts = [getattr(block, "text", "") for block in getattr(message, "content", None) or []
             if getattr(block, "type", None) == "text"]
    text = "\n".join(t for t in texts if t)
    if not text.strip():
        raise JudgeCallError("reply has no text content")
    obj, _, _ = _first_json_object(text)
    if obj is None:
        raise JudgeCallError(f"reply is not JSON: {text[:120]!r}")
    return obj


def _winner(reply: dict) -> str:
    winner = str(reply.get("winner", "")).strip()
    normal = {"a": "A", "b": "B", "tie": "tie", "answer a": "A", "answer b": "B"}.get(winner.lower())
    if normal is None:
        raise JudgeCallError(f"reply has no winner A, B or tie: {str(reply)[:120]}")
    return normal


def _int_score(reply: dict, low: int, high: int) -> int:
    """The reply's "score" when it is a JSON integer from low to high (not a string, a float or a boolean)."""
    score = reply.get("score")
    if type(score) is not int or not low <= score <= high:
        raise JudgeCallError(f"reply has no integer score from {low} to {high}: {str(reply)[:120]}")
    return score


def _faith_score(reply: dict) -> int:
    return _int_score(reply, 1, 5)


def _point_score(reply: dict) -> int:
    return _int_score(reply, 1, 10)


def _api_error(err: Exception) -> str:
    """One line naming an SDK error (its class and HTTP status), without its body."""
    status = getattr(err, "status_code", None)
    return f"HTTP {status} {type(err).__name__}" if status else type(err).__name__


def _why_unreachable(err: Exception) -> str:
    """_api_error plus, for a connection error, the network's own reason ("[Errno 111] Connection refused"), one
    line. It comes from the socket layer (httpx), which never sees the API key."""
    if getattr(err, "status_code", None) is not None:
        return _api_error(err)  # an HTTP status says enough; its body is left out
    cause = err.__cause__ or err.__context__
    reason = " ".join(str(cause).split())[:100] if cause is not None and str(cause) else ""
    return f"{_api_error(err)} ({reason})" if reason else _api_error(err)


class ClaudeJudge:
    """Pairwise, faithfulness and pointwise judgements by Claude, via the anthropic SDK's Messages API.

    compare() asks in both orders; when the orders disagree the verdict is a tie (and the disagreement is
    recorded as position bias). score() rates one answer from 1 to 10. Successful, readable replies are cached on
    disk under artifacts/judge_cache, keyed by model, prompt version and inputs, so a re-run costs nothing.
    Failures are returned as failed verdicts or scores and are not cached, so the next run retries them.

    An unreachable API (a closed port, no network) costs every call the SDK's retries; after `unreachable_after`
    connection errors in a row (with no successful call between them) the judge stops calling and fails the
    remaining calls at once, each still recorded as a failure. `usage["failed"]` counts every failure.
    """

    score_range = (1, 10)

    def __init__(self, model: str = "claude-opus-4-7", cache_dir: str | Path | None = None, concurrency: int = 4,
                 max_retries: int = 4, timeout: float = 120.0, max_tokens: int = 400, use_reference: bool = True,
                 use_batch_api: bool = False, base_url: str | None = None, client=None, unreachable_after: int = 3):
        import anthropic

        self.model = model
        self.name = f"claude:{model}"
        self.concurrency = max(1, int(concurrency))
        self.max_tokens = max_tokens
        self.use_reference = use_reference
        self.use_batch_api = use_batch_api
        self.cache_dir = Path(cache_dir or ARTIFACTS / "judge_cache")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # The SDK reads ANTHROPIC_API_KEY from the environment itself; the key never passes through this code.
        self.client = client or anthropic.Anthropic(base_url=base_url, max_retries=max_retries, timeout=timeout)
        self.usage = {"calls": 0, "cached": 0, "failed": 0, "input_tokens": 0, "output_tokens": 0}
        self._lock = threading.Lock()
        self.unreachable_after = max(1, int(unreachable_after))
        self._connection_errors = 0  # in a row; a successful call resets it
        self._unreachable_why = ""

    # -- requests --------------------------------------------------------------------------------------------
    def _compare_request(self, example: dict, first: str, second: str) -> dict:
        user = (f"Incident report:\n{example['report']}{_reference(example, self.use_reference)}\n\n"
                f"Answer A:\n{_clip(first)}\n\nAnswer B:\n{_clip(second)}\n\n"
                "Which answer is better? Reply with JSON: a one-sentence rationale, then winner \"A\", \"B\" or "
                "\"tie\".")
        return self._params(user, COMPARE_SCHEMA)

    def _faith_request(self, example: dict, response: str) -> dict:
        user = (f"Incident report:\n{example['report']}\n\nAnswer:\n{_clip(response)}\n\n"
                "Rate the answer's faithfulness to the report from 1 to 5: 5 = every fact it states is in the "
                "report; 1 = mostly invented or no usable content. Reply with JSON: a one-sentence rationale, "
                "then score.")
        return self._params(user, FAITH_SCHEMA)

    def _score_request(self, example: dict, response: str) -> dict:
        user = (f"Incident report:\n{example['report']}{_reference(example, self.use_reference)}\n\n"
                f"Answer:\n{_clip(response)}\n\n"
                "Score the answer from 1 to 10 against the rubric: 10 = a valid JSON answer in the required shape "
                "with the right severity, the right component and a concise one-sentence summary that states only "
                "facts from the report; 1 = no usable answer. For this score the severity matters most: an answer "
                "with the right severity scores above any answer with a wrong one (6 or more vs 5 or less), "
                "however well formatted. Reply with JSON: a one-sentence rationale, then score (an integer).")
        return self._params(user, SCORE_SCHEMA)

    def _params(self, user: str, schema: dict) -> dict:
        return {"model": self.model, "max_tokens": self.max_tokens, "system": JUDGE_SYSTEM,
                "messages": [{"role": "user", "content": user}],
                "output_config": {"format": {"type": "json_schema", "schema": schema}}}

    def _cache_path(self, params: dict) -> Path:
        key = json.dumps({"v": JUDGE_PROMPT_VERSION, **params}, sort_keys=True)
        return self.cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()}.json"

    def _cached(self, path: Path, validate: Callable[[dict], object] | None) -> dict | None:
        """The cached reply at `path` if there is one that passes `validate`."""
        try:
            reply = json.loads(path.read_text())
        except (OSError, ValueError):
            return None  # not cached, or a torn file
        if not isinstance(reply, dict):
            return None
        if validate is not None:
            try:
                validate(reply)
            except JudgeCallError:
                return None  # an unusable reply cached by an older version: ask again
        return reply

    def _store(self, path: Path, reply: dict) -> None:
        tmp = path.parent / f"{path.stem}.{threading.get_ident()}.tmp"
        tmp.write_text(json.dumps(reply))
        tmp.replace(path)

    def _count_usage(self, message) -> None:
        usage = getattr(message, "usage", None)
        with self._lock:
            self._connection_errors = 0
            self.usage["calls"] += 1
            self.usage["input_tokens"] += getattr(usage, "input_tokens", 0) or 0
            self.usage["output_tokens"] += getattr(usage, "output_tokens", 0) or 0

    def _connection_failed(self, err: Exception) -> None:
        with self._lock:
            self._connection_errors += 1
            self._unreachable_why = _why_unreachable(err)

    def _check_reachable(self) -> None:
        """Raise JudgeCallError, without calling, once `unreachable_after` calls in a row got no connection."""
        with self._lock:
            n, why = self._connection_errors, self._unreachable_why
        if n >= self.unreachable_after:
            raise JudgeCallError(f"API unreachable: {n} calls in a row got no connection ({why}); not called "
                                 "(check the network and ANTHROPIC_BASE_URL, then re-run: failures are retried)")

    def _call(self, params: dict, validate: Callable[[dict], object] | None = None) -> dict:
        """The parsed JSON reply for one request: from the cache, else from the API. `validate` raises
        JudgeCallError on a reply that cannot be used; only usable replies are cached. Raises JudgeCallError."""
        import anthropic

        path = self._cache_path(params)
        reply = self._cached(path, validate)
        if reply is not None:
            with self._lock:
                self.usage["cached"] += 1
            return reply
        self._check_reachable()
        try:
            message = self.client.messages.create(**params)
        except anthropic.APIConnectionError as err:
            self._connection_failed(err)
            raise JudgeCallError(f"{_why_unreachable(err)} after retries") from None
        except anthropic.APIError as err:  # an HTTP error status, or a reply the SDK could not read
            raise JudgeCallError(f"{_api_error(err)} after retries") from None
        self._count_usage(message)
        reply = parse_reply(message)
        if validate is not None:
            validate(reply)
        self._store(path, reply)
        return reply

    def _failed(self) -> None:
        with self._lock:
            self.usage["failed"] += 1

    # -- public interface ----------------------------------------------------------------------------------
    def compare(self, example: dict, response_a: str, response_b: str) -> Verdict:
        try:
            ab = self._call(self._compare_request(example, response_a, response_b), _winner)
            ba = self._call(self._compare_request(example, response_b, response_a), _winner)
            first = {"A": "a", "B": "b", "tie": "tie"}[_winner(ab)]
            second = {"A": "b", "B": "a", "tie": "tie"}[_winner(ba)]  # swapped order: A is response_b
        except JudgeCallError as err:
            self._failed()
            return Verdict(None, "judge call failed", self.name, failed=True, error=str(err))
        details = {"order_ab": first, "order_ba": second, "position_disagreement": first != second}
        if first == second:
            return Verdict(first, str(ab.get("rationale", ""))[:500], self.name, details=details)
        return Verdict("tie", f"the two orders disagree (a-first says {first}, b-first says {second}): counted as a "
                       "tie", self.name, details=details)

    def _pointwise(self, params: dict, read, result):
        """One judgement of one answer: `read` takes the number out of the reply (JudgeCallError if unusable),
        `result` (Faithfulness or Score) holds it, or a failure with no number."""
        try:
            reply = self._call(params, read)
            value = read(reply)
        except JudgeCallError as err:
            self._failed()
            return result(None, "judge call failed", self.name, failed=True, error=str(err))
        return result(value, str(reply.get("rationale", ""))[:500], self.name)

    def faithfulness(self, example: dict, response: str) -> Faithfulness:
        return self._pointwise(self._faith_request(example, response), _faith_score, Faithfulness)

    def score(self, example: dict, response: str) -> Score:
        """One answer on its own, 1-10 against the rubric (JUDGE_SYSTEM), or a failed Score with score None."""
        return self._pointwise(self._score_request(example, response), _point_score, Score)

    def _many(self, fn, items, desc, progress):
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(tqdm(pool.map(lambda item: fn(*item), items), total=len(items), desc=desc,
                             disable=not progress))

    def compare_many(self, items: list[tuple[dict, str, str]], progress: bool = True) -> list[Verdict]:
        if self.use_batch_api:
            return self.compare_batch(items)
        return self._many(self.compare, items, f"judging ({self.model}, x{self.concurrency})", progress)

    def score_many(self, items: list[tuple[dict, str]], progress: bool = True) -> list[Score]:
        if self.use_batch_api:
            return self.score_batch(items)
        return self._many(self.score, items, f"scoring ({self.model}, x{self.concurrency})", progress)

    def faithfulness_many(self, items: list[tuple[dict, str]], progress: bool = True) -> list[Faithfulness]:
        return self._many(self.faithfulness, items, f"faithfulness ({self.model})", progress)

    # -- cost estimates --------------------------------------------------------------------------------------
    def _estimate(self, requests: list[dict], sample: int) -> dict:
        """Token and cost estimate for the uncached ones among `requests` (Messages API params), from the SDK's
        token counting on a sample of them. An API that cannot be reached, or that answers with an error, gives
        {"error": "estimate not computed: <why, one line>", "requests": <uncached requests>} instead of raising:
        the judging that follows records each failed call as a failure."""
        import anthropic

        todo = list({self._cache_path(p): p for p in requests if not self._cache_path(p).exists()}.values())
        if not todo:
            return {"requests": 0, "input_tokens": 0, "output_tokens": 0, "usd": 0.0}
        sample = max(1, int(sample))
        counted = []
        try:
            for params in todo[::max(1, len(todo) // sample)][:sample]:
                to_count = {k: v for k, v in params.items() if k != "max_tokens"}
                counted.append(self.client.messages.count_tokens(**to_count).input_tokens)
        except anthropic.APIConnectionError as err:
            self._connection_failed(err)
            return {"error": f"estimate not computed: token count failed: {_why_unreachable(err)}",
                    "requests": len(todo)}
        except anthropic.APIError as err:
            return {"error": f"estimate not computed: token count failed: {_api_error(err)}", "requests": len(todo)}
        input_tokens = int(sum(counted) / len(counted) * len(todo))
        output_tokens = len(todo) * OUTPUT_TOKENS_PER_REQUEST
        price_in, price_out = PRICE_PER_MTOK.get(self.model, (0.0, 0.0))
        usd = input_tokens / 1e6 * price_in + output_tokens / 1e6 * price_out
        return {"requests": len(todo), "input_tokens": input_tokens, "output_tokens": output_tokens,
                "usd": round(usd, 2)}

    def estimate(self, items: list[tuple[dict, str, str]], sample: int = 5) -> dict:
        """Token and cost estimate for comparing `items` (two calls each, one per order), from the SDK's token
        counting on a sample of requests; cached requests cost nothing and are left out. On an API error:
        {"error": "estimate not computed: <one line>", "requests": n} instead of raising."""
        return self._estimate([self._compare_request(ex, first, second) for ex, a, b in items
                               for first, second in ((a, b), (b, a))], sample)

    def estimate_scores(self, items: list[tuple[dict, str]], sample: int = 5) -> dict:
        """The same estimate for score_many(items): one request per (example, response). On an API error:
        {"error": "estimate not computed: <one line>", "requests": n} instead of raising."""
        return self._estimate([self._score_request(ex, response) for ex, response in items], sample)

    # -- the Message Batches API -----------------------------------------------------------------------------
    def _batch(self, requests: list[dict], validate: Callable[[dict], object] | None = None, poll_s: float = 30.0,
               timeout_s: float = 24 * 3600) -> dict[str, str]:
        """Send the uncached ones among `requests` (Messages API params) as one Message Batch (half price, results
        within 24 h), wait for it, and cache every usable reply. Returns {cache key: error} for the requests that
        got no usable reply; the cache key is the cache file's stem (also the batch custom_id)."""
        import anthropic

        pending = {}
        for params in requests:
            path = self._cache_path(params)
            if self._cached(path, validate) is None:
                pending[path.stem[:64]] = (params, path)
        if not pending:
            return {}
        try:
            batch = self.client.messages.batches.create(
                requests=[{"custom_id": cid, "params": params} for cid, (params, _) in pending.items()])
        except anthropic.APIError as err:
            return dict.fromkeys(pending, f"batch not created: {_why_unreachable(err)} after retries")
        try:
            return self._batch_results(batch, pending, validate, poll_s, timeout_s)
        except anthropic.APIError as err:  # the connection was lost while waiting: the batch's id says where it is
            return dict.fromkeys(pending, f"batch {batch.id} not read: {_why_unreachable(err)} after retries")

    def _batch_results(self, batch, pending: dict, validate, poll_s: float, timeout_s: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout_s
        while batch.processing_status != "ended":
            if time.monotonic() > deadline:
                raise TimeoutError(f"batch {batch.id} still {batch.processing_status} after {timeout_s} s")
            time.sleep(poll_s)
            batch = self.client.messages.batches.retrieve(batch.id)
        errors = dict.fromkeys(pending, f"no result for this request in batch {batch.id}")
        for entry in self.client.messages.batches.results(batch.id):
            if entry.custom_id not in pending:
                continue
            result = entry.result
            if result.type != "succeeded":
                kind = getattr(getattr(getattr(result, "error", None), "error", None), "type", None)
                errors[entry.custom_id] = f"batch request {result.type}" + (f" ({kind})" if kind else "")
                continue
            self._count_usage(result.message)
            try:
                reply = parse_reply(result.message)
                if validate is not None:
                    validate(reply)
            except JudgeCallError as err:
                errors[entry.custom_id] = str(err)
                continue
            self._store(pending[entry.custom_id][1], reply)
            del errors[entry.custom_id]
        return errors

    def compare_batch(self, items: list[tuple[dict, str, str]], poll_s: float = 30.0,
                      timeout_s: float = 24 * 3600) -> list[Verdict]:
        """compare() for many items through the Message Batches API. Fills the same cache, then answers from it;
        an item with a request that failed in the batch comes back as a failed verdict (no live call)."""
        pairs = [(self._compare_request(ex, a, b), self._compare_request(ex, b, a)) for ex, a, b in items]
        errors = self._batch([p for pair in pairs for p in pair], _winner, poll_s, timeout_s)
        verdicts = []
        for item, pair in zip(items, pairs, strict=True):
            error = next((errors[k] for k in (self._cache_path(p).stem for p in pair) if k in errors), None)
            if error is None:
                verdicts.append(self.compare(*item))  # from the cache
            else:
                self._failed()
                verdicts.append(Verdict(None, "judge call failed", self.name, failed=True, error=error))
        return verdicts

    def score_batch(self, items: list[tuple[dict, str]], poll_s: float = 30.0,
                    timeout_s: float = 24 * 3600) -> list[Score]:
        """score() for many items through the Message Batches API, like compare_batch()."""
        requests = [self._score_request(ex, response) for ex, response in items]
        errors = self._batch(requests, _point_score, poll_s, timeout_s)
        scores = []
        for item, params in zip(items, requests, strict=True):
            error = errors.get(self._cache_path(params).stem)
            if error is None:
                scores.append(self.score(*item))  # from the cache
            else:
                self._failed()
                scores.append(Score(None, "judge call failed", self.name, failed=True, error=error))
        return scores
