"""The Claude judge: the Anthropic Messages API through the official `anthropic` SDK.

Calling a paid, rate-limited remote judge needs machinery the rubric judge does not: an on-disk cache (a re-run
costs nothing), bounded concurrency, the SDK's retries, the Message Batches API and token and cost estimates. What
is asked lives in prompts.py, how replies are read in replies.py, the HTTP client and its breaker in transport.py.
A call that still fails after the SDK's retries, or whose reply cannot be read, is recorded as a failure, never as
a verdict or a score.

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

from helpers.cache import write_atomic
from helpers.judges.common import Faithfulness, JudgeResult, Score, Verdict
from helpers.judges.prompts import JUDGE_PROMPT_VERSION, compare_request, faithfulness_request, score_request
from helpers.judges.replies import (
    JudgeCallError,
    api_error,
    parse_reply,
    read_faithfulness,
    read_point_score,
    read_winner,
    why_unreachable,
)
from helpers.judges.transport import CallBreaker, watched_client
from helpers.paths import ARTIFACTS
from helpers.progress import tqdm

# USD per million tokens, for the printed estimate only; check the current price list before a large run.
PRICE_PER_MTOK = {"claude-opus-4-7": (5.0, 25.0)}
OUTPUT_TOKENS_PER_REQUEST = 80  # for the estimate: a one-sentence rationale and a verdict or a score


class ClaudeJudge:
    """Pairwise, faithfulness and pointwise judgements by Claude, via the anthropic SDK's Messages API.

    compare() asks in both orders; when the orders disagree the verdict is a tie (and the disagreement is
    recorded as position bias). score() rates one answer from 1 to 10. Successful, readable replies are cached on
    disk under artifacts/judge_cache, keyed by model, prompt version and inputs, so a re-run costs nothing.
    Failures are returned as failed verdicts or scores and are not cached, so the next run retries them.

    An unreachable API (a closed port, no network) costs every call the SDK's retries; after `unreachable_after`
    connection errors in a row (with no successful call between them) the judge stops calling and fails the
    remaining calls at once, each still recorded as a failure. `usage["failed"]` counts every failure.

    An overloaded API (HTTP 529, or any 5xx) is the same story with waits: every call would sit through its retries.
    The judge watches every reply (each try of each call): after `overloaded_after` overloaded or 5xx replies in a
    row, or `overloaded_for_s` seconds of them with no good reply between, the breaker opens: calls in flight stop
    retrying, and the remaining calls fail at once with one line saying the API is overloaded and what to do. A
    retry-after header cannot make the SDK wait more than transport.RETRY_WAIT_CAP_S between tries.
    """

    score_range = (1, 10)

    def __init__(self, model: str = "claude-opus-4-7", cache_dir: str | Path | None = None, concurrency: int = 4,
                 max_retries: int = 4, timeout: float = 120.0, max_tokens: int = 400, use_reference: bool = True,
                 use_batch_api: bool = False, base_url: str | None = None, client=None, unreachable_after: int = 3,
                 overloaded_after: int = 8, overloaded_for_s: float = 30.0):
        self.model = model
        self.name = f"claude:{model}"
        self.concurrency = max(1, int(concurrency))
        self.max_tokens = max_tokens
        self.use_reference = use_reference
        self.use_batch_api = use_batch_api
        self.cache_dir = Path(cache_dir or ARTIFACTS / "judge_cache")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # With a client of its own the judge sees every reply (each retry included) through an HTTP response hook;
        # a client passed in is watched per call instead.
        self.breaker = CallBreaker(unreachable_after, overloaded_after, overloaded_for_s,
                                   watches_replies=client is None)
        self.client = client or watched_client(self.breaker, base_url, max_retries, timeout)
        self.usage = {"calls": 0, "cached": 0, "failed": 0, "input_tokens": 0, "output_tokens": 0}

    # -- requests --------------------------------------------------------------------------------------------
    def _compare_request(self, example: dict, first: str, second: str) -> dict:
        return compare_request(self.model, self.max_tokens, example, first, second, self.use_reference)

    def _faith_request(self, example: dict, response: str) -> dict:
        return faithfulness_request(self.model, self.max_tokens, example, response)

    def _score_request(self, example: dict, response: str) -> dict:
        return score_request(self.model, self.max_tokens, example, response, self.use_reference)

    def _compare_requests(self, example: dict, response_a: str, response_b: str) -> tuple[dict, dict]:
        """The two requests of one comparison: a shown first, then b shown first."""
        return (self._compare_request(example, response_a, response_b),
                self._compare_request(example, response_b, response_a))

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
                return None  # a cached reply that fails today's check: ask again
        return reply

    def _store(self, path: Path, reply: dict) -> None:
        write_atomic(path, json.dumps(reply))

    def _count_usage(self, message) -> None:
        usage = getattr(message, "usage", None)
        self.breaker.succeeded()
        with self._lock:
            self.usage["calls"] += 1
            self.usage["input_tokens"] += getattr(usage, "input_tokens", 0) or 0
            self.usage["output_tokens"] += getattr(usage, "output_tokens", 0) or 0

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
        self.breaker.check()
        try:
            message = self.client.messages.create(**params)
        except anthropic.APIConnectionError as err:
            self.breaker.connection_failed(err)
            raise JudgeCallError(f"{why_unreachable(err)} after retries") from None
        except anthropic.APIError as err:  # an HTTP error status, or a reply the SDK could not read
            raise JudgeCallError(f"{api_error(err)} after retries{self._overloaded_call(err)}") from None
        self._count_usage(message)
        reply = parse_reply(message)
        if validate is not None:
            validate(reply)
        self._store(path, reply)
        return reply

    def _overloaded_call(self, err: Exception) -> str:
        """The breaker's note for a failed call; a client passed in made max_retries + 1 tries."""
        return self.breaker.overloaded_call(err, int(getattr(self.client, "max_retries", 0) or 0) + 1)

    def _failed(self) -> None:
        with self._lock:
            self.usage["failed"] += 1

    # -- public interface ----------------------------------------------------------------------------------
    def compare(self, example: dict, response_a: str, response_b: str) -> Verdict:
        ab_params, ba_params = self._compare_requests(example, response_a, response_b)
        try:
            ab = self._call(ab_params, read_winner)
            ba = self._call(ba_params, read_winner)
            first = {"A": "a", "B": "b", "tie": "tie"}[read_winner(ab)]
            second = {"A": "b", "B": "a", "tie": "tie"}[read_winner(ba)]  # swapped order: A is response_b
        except JudgeCallError as err:
            self._failed()
            return Verdict.failure(self.name, str(err))
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
            return result.failure(self.name, str(err))
        return result(value, str(reply.get("rationale", ""))[:500], self.name)

    def faithfulness(self, example: dict, response: str) -> Faithfulness:
        return self._pointwise(self._faith_request(example, response), read_faithfulness, Faithfulness)

    def score(self, example: dict, response: str) -> Score:
        """One answer on its own, 1-10 against the rubric (JUDGE_SYSTEM), or a failed Score with score None."""
        return self._pointwise(self._score_request(example, response), read_point_score, Score)

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
            self.breaker.connection_failed(err)
            return {"error": f"estimate not computed: token count failed: {why_unreachable(err)}",
                    "requests": len(todo)}
        except anthropic.APIError as err:
            return {"error": f"estimate not computed: token count failed: {api_error(err)}", "requests": len(todo)}
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
        return self._estimate([p for item in items for p in self._compare_requests(*item)], sample)

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
            self.breaker.check()
        except JudgeCallError as err:
            return dict.fromkeys(pending, str(err))
        try:
            batch = self.client.messages.batches.create(
                requests=[{"custom_id": cid, "params": params} for cid, (params, _) in pending.items()])
        except anthropic.APIError as err:
            return dict.fromkeys(pending, f"batch not created: {why_unreachable(err)} after retries")
        try:
            return self._batch_results(batch, pending, validate, poll_s, timeout_s)
        except anthropic.APIError as err:  # the connection was lost while waiting: the batch's id says where it is
            return dict.fromkeys(pending, f"batch {batch.id} not read: {why_unreachable(err)} after retries")

    def _batch_results(self, batch, pending: dict, validate, poll_s: float, timeout_s: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout_s
        while batch.processing_status != "ended":
            if time.monotonic() > deadline:
                raise TimeoutError(f"batch {batch.id} still {batch.processing_status} after {timeout_s} s")
            time.sleep(poll_s)
            batch = self.client.messages.batches.retrieve(batch.id)
        # Results come back in any order: each is joined to its request on custom_id, never by position.
        results: dict[str, list] = {}
        unknown = 0
        for entry in self.client.messages.batches.results(batch.id):
            if entry.custom_id in pending:
                results.setdefault(entry.custom_id, []).append(entry.result)
            else:
                unknown += 1  # an id never sent: matched to nothing
        missing = f"no result for this request in batch {batch.id}" + (
            f" (it returned {unknown} result(s) with an unknown custom_id)" if unknown else "")
        errors = {}
        for cid, (_, path) in pending.items():
            mine = results.get(cid, [])
            for result in mine:
                if result.type == "succeeded":
                    self._count_usage(result.message)
            if not mine:
                errors[cid] = missing
            elif len(mine) > 1:  # which one is this request's? neither is used, nor cached
                errors[cid] = f"batch {batch.id} returned {len(mine)} results for this request (a duplicate custom_id)"
            elif mine[0].type != "succeeded":
                kind = getattr(getattr(getattr(mine[0], "error", None), "error", None), "type", None)
                errors[cid] = f"batch request {mine[0].type}" + (f" ({kind})" if kind else "")
            else:
                try:
                    reply = parse_reply(mine[0].message)
                    if validate is not None:
                        validate(reply)
                except JudgeCallError as err:
                    errors[cid] = str(err)
                    continue
                self._store(path, reply)
        return errors

    def _judge_batch(self, items: list[tuple], requests_of: Callable[..., tuple[dict, ...]], judge_one: Callable,
                     read: Callable[[dict], object], result: type[JudgeResult], poll_s: float,
                     timeout_s: float) -> list:
        """Judge `items` through the Message Batches API: send every item's requests (`requests_of(*item)`) in one
        batch, which fills the cache, then answer each item with `judge_one(*item)` from the cache. An item with a
        request that failed in the batch comes back as a failed `result` (no live call)."""
        per_item = [requests_of(*item) for item in items]
        errors = self._batch([p for requests in per_item for p in requests], read, poll_s, timeout_s)
        results = []
        for item, requests in zip(items, per_item, strict=True):
            error = next((errors[k] for k in (self._cache_path(p).stem for p in requests) if k in errors), None)
            if error is None:
                results.append(judge_one(*item))  # from the cache
            else:
                self._failed()
                results.append(result.failure(self.name, error))
        return results

    def compare_batch(self, items: list[tuple[dict, str, str]], poll_s: float = 30.0,
                      timeout_s: float = 24 * 3600) -> list[Verdict]:
        """compare() for many items through the Message Batches API. Fills the same cache, then answers from it;
        an item with a request that failed in the batch comes back as a failed verdict (no live call)."""
        return self._judge_batch(items, self._compare_requests, self.compare, read_winner, Verdict, poll_s, timeout_s)

    def score_batch(self, items: list[tuple[dict, str]], poll_s: float = 30.0,
                    timeout_s: float = 24 * 3600) -> list[Score]:
        """score() for many items through the Message Batches API, like compare_batch()."""
        return self._judge_batch(items, lambda ex, response: (self._score_request(ex, response),), self.score,
                                 read_point_score, Score, poll_s, timeout_s)
