"""Judges behind one interface: which of two triage answers is better, and how faithful one answer is.

- `RubricJudge`: the offline default. Deterministic rules over the task's gold labels and the report text.
- `ClaudeJudge`: the Anthropic Messages API through the official `anthropic` SDK, asked in both orders
  (position swap), cached on disk, with bounded concurrency. A call that still fails after the SDK's retries is
  recorded as a failure, never as a verdict.
- `make_judge("auto")`: Claude when ANTHROPIC_API_KEY is set, otherwise the rubric judge.

The API key is read by the SDK from the environment only; this module never prints, logs or stores it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from helpers.task import REPO_ROOT, RUBRIC, _first_json_object, normalize_component, parse_response

VERDICTS = ("a", "b", "tie")


@dataclass
class Verdict:
    """The outcome of one pairwise judgement. `winner` is "a", "b", "tie", or None when the judge failed."""

    winner: str | None
    rationale: str
    judge: str
    failed: bool = False
    error: str | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Faithfulness:
    """A 1-5 faithfulness score (5: every fact in the answer is in the report), or None when the judge failed."""

    score: int | None
    rationale: str
    judge: str
    failed: bool = False
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------------------- the rubric judge

# Facts a summary can state: numbers (incl. 1.5, 40%, each half of a 22:50 time), hyphenated names (services,
# regions) and capitalised names.
_FACT = re.compile(r"\d+(?:\.\d+)?|[a-z0-9]+(?:-[a-z0-9]+)+", re.I)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{2,}\b")
_COMMON_CAPS = {"The", "This", "Customers", "Users", "Support", "Status", "Data", "Production", "Internal", "All",
                "Checkout", "Nightly", "About", "Three", "Two", "Avatar", "Login", "Search", "Order", "Password",
                "Account", "Adding", "Saved", "Review", "Gift", "Typo", "Minor", "Small", "Other", "Employees", "Some",
                "Engineering", "Team", "Retry", "Retries", "Error", "Errors", "Service", "Services", "Staging", "Dev",
                "Critical", "Urgent", "Emergency", "Database", "There", "Requests", "Request", "It", "In", "On", "At",
                "An", "For", "No", "Its", "Since", "Every", "Card", "Payments", "Payment", "Health", "Flapping", "Disk"}


def unsupported_facts(text: str, report: str) -> list[str]:
    """Numbers, hyphenated names and capitalised names in `text` that do not appear in `report`."""
    report_l = report.lower()
    facts = [m.group(0) for m in _FACT.finditer(text)]
    facts += [m.group(0) for m in _NAME.finditer(text) if m.group(0) not in _COMMON_CAPS]
    return sorted({f for f in facts if f.lower() not in report_l and not f.upper().startswith("SEV")})


def rubric_faithfulness(example: dict, response: str) -> tuple[int, str]:
    """1-5: 5 when every fact in the summary (or in the whole answer, if no summary can be read) is in the report,
    one point less per unsupported fact; 1 for an empty answer."""
    parsed = parse_response(response)
    text = parsed.summary if parsed.summary else (response or "")
    if not text.strip():
        return 1, "empty answer: nothing to check"
    missing = unsupported_facts(text, example["report"])
    score = max(1, 5 - len(missing))
    where = "summary" if parsed.summary else "answer (no readable summary)"
    if not missing:
        return score, f"every number and name in the {where} appears in the report"
    return score, f"{len(missing)} fact(s) in the {where} not in the report: {', '.join(missing[:5])}"


class RubricJudge:
    """Deterministic judge from gold labels and the report. Rules, in order, decide a comparison:
    format validity, severity correctness, component match, faithfulness, concision (>= 25% shorter)."""

    name = "rubric"

    def _profile(self, example: dict, response: str) -> dict:
        parsed = parse_response(response)
        faith, _ = rubric_faithfulness(example, response)
        return {
            "format": parsed.valid,
            "severity": parsed.severity == example["severity"],
            "component": normalize_component(parsed.component) == normalize_component(example["component"]),
            "faithfulness": faith,
            "length": len(response or ""),
            "parsed": parsed,
        }

    def compare(self, example: dict, response_a: str, response_b: str) -> Verdict:
        pa, pb = self._profile(example, response_a), self._profile(example, response_b)
        gold = example["severity"]
        rules = [
            ("format", lambda p: p["format"], lambda p: "valid JSON answer" if p["format"] else p["parsed"].reason),
            ("severity", lambda p: p["severity"], lambda p: f"severity {p['parsed'].severity} (gold {gold})"),
            ("component", lambda p: p["component"],
             lambda p: f"component {p['parsed'].component!r} (gold {example['component']!r})"),
            ("faithfulness", lambda p: p["faithfulness"], lambda p: f"faithfulness {p['faithfulness']}/5"),
        ]
        for rule, key, describe in rules:
            ka, kb = key(pa), key(pb)
            if ka != kb:
                winner = "a" if ka > kb else "b"
                return Verdict(winner, f"{rule} decided: a has {describe(pa)}; b has {describe(pb)}", self.name,
                               details={"rule": rule})
        la, lb = pa["length"], pb["length"]
        if min(la, lb) <= 0.75 * max(la, lb):
            winner = "a" if la < lb else "b"
            return Verdict(winner, f"concision decided: a is {la} characters, b is {lb}", self.name,
                           details={"rule": "concision"})
        return Verdict("tie", "no rule separates the answers", self.name, details={"rule": "tie"})

    def faithfulness(self, example: dict, response: str) -> Faithfulness:
        score, why = rubric_faithfulness(example, response)
        return Faithfulness(score, why, self.name)

    def compare_many(self, items: list[tuple[dict, str, str]], progress: bool = True) -> list[Verdict]:
        return [self.compare(*item) for item in tqdm(items, desc="judging (rubric)", disable=not progress)]

    def faithfulness_many(self, items: list[tuple[dict, str]], progress: bool = True) -> list[Faithfulness]:
        return [self.faithfulness(*item) for item in tqdm(items, desc="faithfulness (rubric)", disable=not progress)]


# ----------------------------------------------------------------------------- the Claude judge

JUDGE_PROMPT_VERSION = "v1"
# USD per million tokens, for the printed estimate only; check the current price list before a large run.
PRICE_PER_MTOK = {"claude-opus-4-7": (5.0, 25.0)}
MAX_RESPONSE_CHARS = 2000

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


class ClaudeJudge:
    """Pairwise and faithfulness judgements by Claude, via the anthropic SDK's Messages API.

    compare() asks in both orders; when the orders disagree the verdict is a tie (and the disagreement is
    recorded as position bias). Successful replies are cached on disk under artifacts/judge_cache, keyed by
    model, prompt version and inputs, so a re-run costs nothing. Failures are returned as failed verdicts.
    """

    def __init__(self, model: str = "claude-opus-4-7", cache_dir: str | Path | None = None, concurrency: int = 4,
                 max_retries: int = 4, timeout: float = 120.0, max_tokens: int = 400, use_reference: bool = True,
                 use_batch_api: bool = False, base_url: str | None = None, client=None):
        import anthropic

        self.model = model
        self.name = f"claude:{model}"
        self.concurrency = max(1, int(concurrency))
        self.max_tokens = max_tokens
        self.use_reference = use_reference
        self.use_batch_api = use_batch_api
        self.cache_dir = Path(cache_dir or REPO_ROOT / "artifacts" / "judge_cache")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # The SDK reads ANTHROPIC_API_KEY from the environment itself; the key never passes through this code.
        self.client = client or anthropic.Anthropic(base_url=base_url, max_retries=max_retries, timeout=timeout)
        self.usage = {"calls": 0, "cached": 0, "failed": 0, "input_tokens": 0, "output_tokens": 0}
        self._lock = threading.Lock()

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

    def _params(self, user: str, schema: dict) -> dict:
        return {"model": self.model, "max_tokens": self.max_tokens, "system": JUDGE_SYSTEM,
                "messages": [{"role": "user", "content": user}],
                "output_config": {"format": {"type": "json_schema", "schema": schema}}}

    def _cache_path(self, params: dict) -> Path:
        key = json.dumps({"v": JUDGE_PROMPT_VERSION, **params}, sort_keys=True)
        return self.cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()}.json"

    def _call(self, params: dict) -> dict:
        """The parsed JSON reply for one request: from the cache, else from the API. Raises JudgeCallError."""
        import anthropic

        path = self._cache_path(params)
        if path.exists():
            with self._lock:
                self.usage["cached"] += 1
            return json.loads(path.read_text())
        try:
            message = self.client.messages.create(**params)
        except anthropic.APIStatusError as err:
            raise JudgeCallError(f"HTTP {err.status_code} {type(err).__name__} after retries") from None
        except anthropic.APIConnectionError as err:
            raise JudgeCallError(f"{type(err).__name__} after retries") from None
        with self._lock:
            self.usage["calls"] += 1
            self.usage["input_tokens"] += getattr(message.usage, "input_tokens", 0) or 0
            self.usage["output_tokens"] += getattr(message.usage, "output_tokens", 0) or 0
        reply = parse_reply(message)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(reply))
        tmp.replace(path)
        return reply

    # -- public interface ----------------------------------------------------------------------------------
    def compare(self, example: dict, response_a: str, response_b: str) -> Verdict:
        try:
            ab = self._call(self._compare_request(example, response_a, response_b))
            ba = self._call(self._compare_request(example, response_b, response_a))
            first = {"A": "a", "B": "b", "tie": "tie"}[_winner(ab)]
            second = {"A": "b", "B": "a", "tie": "tie"}[_winner(ba)]  # swapped order: A is response_b
        except JudgeCallError as err:
            with self._lock:
                self.usage["failed"] += 1
            return Verdict(None, "judge call failed", self.name, failed=True, error=str(err))
        details = {"order_ab": first, "order_ba": second, "position_disagreement": first != second}
        if first == second:
            return Verdict(first, str(ab.get("rationale", ""))[:500], self.name, details=details)
        return Verdict("tie", f"the two orders disagree (a-first says {first}, b-first says {second}): counted as a "
                       "tie", self.name, details=details)

    def faithfulness(self, example: dict, response: str) -> Faithfulness:
        try:
            reply = self._call(self._faith_request(example, response))
            score = reply.get("score")
            if not isinstance(score, int) or not 1 <= score <= 5:
                raise JudgeCallError(f"reply has no score from 1 to 5: {str(reply)[:120]}")
        except JudgeCallError as err:
            with self._lock:
                self.usage["failed"] += 1
            return Faithfulness(None, "judge call failed", self.name, failed=True, error=str(err))
        return Faithfulness(score, str(reply.get("rationale", ""))[:500], self.name)

    def _many(self, fn, items, desc, progress):
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(tqdm(pool.map(lambda item: fn(*item), items), total=len(items), desc=desc,
                             disable=not progress))

    def compare_many(self, items: list[tuple[dict, str, str]], progress: bool = True) -> list[Verdict]:
        if self.use_batch_api:
            return self.compare_batch(items)
        return self._many(self.compare, items, f"judging ({self.model}, x{self.concurrency})", progress)

    def faithfulness_many(self, items: list[tuple[dict, str]], progress: bool = True) -> list[Faithfulness]:
        return self._many(self.faithfulness, items, f"faithfulness ({self.model})", progress)

    # -- cost estimate and the batch API ---------------------------------------------------------------------
    def estimate(self, items: list[tuple[dict, str, str]], sample: int = 5) -> dict:
        """Token and cost estimate for comparing `items` (two calls each), from the SDK's token counting on a
        sample of requests; cached requests cost nothing and are left out."""
        todo = [it for it in items
                if not self._cache_path(self._compare_request(*it)).exists()
                or not self._cache_path(self._compare_request(it[0], it[2], it[1])).exists()]
        if not todo:
            return {"requests": 0, "input_tokens": 0, "output_tokens": 0, "usd": 0.0}
        step = max(1, len(todo) // sample)
        counted = []
        for example, a, b in todo[::step][:sample]:
            params = self._compare_request(example, a, b)
            params.pop("max_tokens")
            counted.append(self.client.messages.count_tokens(**params).input_tokens)
        n_requests = 2 * len(todo)
        input_tokens = int(sum(counted) / len(counted) * n_requests)
        output_tokens = n_requests * 80  # a one-sentence rationale and a verdict
        price_in, price_out = PRICE_PER_MTOK.get(self.model, (0.0, 0.0))
        usd = input_tokens / 1e6 * price_in + output_tokens / 1e6 * price_out
        return {"requests": n_requests, "input_tokens": input_tokens, "output_tokens": output_tokens,
                "usd": round(usd, 2)}

    def compare_batch(self, items: list[tuple[dict, str, str]], poll_s: float = 30.0,
                      timeout_s: float = 24 * 3600) -> list[Verdict]:
        """compare() for many items through the Message Batches API (half price, results within 24 h).
        Fills the same cache, then answers from it; requests that failed in the batch come back as failures."""
        pending = {}
        for example, a, b in items:
            for first, second in ((a, b), (b, a)):
                params = self._compare_request(example, first, second)
                path = self._cache_path(params)
                if not path.exists():
                    pending[path.stem[:64]] = (params, path)
        if pending:
            batch = self.client.messages.batches.create(
                requests=[{"custom_id": cid, "params": params} for cid, (params, _) in pending.items()])
            deadline = time.monotonic() + timeout_s
            while batch.processing_status != "ended":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"batch {batch.id} still {batch.processing_status} after {timeout_s} s")
                time.sleep(poll_s)
                batch = self.client.messages.batches.retrieve(batch.id)
            for entry in self.client.messages.batches.results(batch.id):
                if entry.result.type != "succeeded" or entry.custom_id not in pending:
                    continue
                try:
                    reply = parse_reply(entry.result.message)
                except JudgeCallError:
                    continue
                pending[entry.custom_id][1].write_text(json.dumps(reply))
        return [self.compare(*item) for item in items]  # everything answered now comes from the cache


def parse_reply(message) -> dict:
    """The JSON object in a Messages API reply (structured output), read robustly: text blocks joined, code
    fences and stray prose tolerated. Raises JudgeCallError when no usable object is there."""
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


# ----------------------------------------------------------------------------- choosing


def make_judge(kind: str = "auto", model: str = "claude-opus-4-7", concurrency: int = 4, use_batch_api: bool = False,
               verbose: bool = True, **kwargs):
    """"rubric", "claude", or "auto" (Claude when ANTHROPIC_API_KEY is set, else the rubric judge).
    `concurrency`, `use_batch_api` and `kwargs` configure the Claude judge and are ignored by the rubric judge."""
    if kind == "auto":
        kind = "claude" if os.environ.get("ANTHROPIC_API_KEY") else "rubric"
        if verbose:
            why = "ANTHROPIC_API_KEY is set" if kind == "claude" else "no ANTHROPIC_API_KEY in the environment"
            print(f"judge: {kind} ({why})")
    if kind == "rubric":
        return RubricJudge()
    if kind == "claude":
        if not os.environ.get("ANTHROPIC_API_KEY") and "client" not in kwargs:
            raise RuntimeError("the Claude judge needs ANTHROPIC_API_KEY in the environment (never in a notebook)")
        return ClaudeJudge(model=model, concurrency=concurrency, use_batch_api=use_batch_api, **kwargs)
    raise ValueError(f"unknown judge {kind!r}; choose 'auto', 'rubric' or 'claude'")
