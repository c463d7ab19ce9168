"""The Claude judge's way to the API: its own HTTP client, retry waits capped, and a breaker that stops calling
an API that is unreachable or overloaded, so a dead or swamped endpoint fails the remaining calls at once.
"""

from __future__ import annotations

import threading
import time

from helpers.judges.replies import JudgeCallError, api_error, why_unreachable

# The longest wait between two tries that an API's retry-after header can ask of the SDK (its own backoff tops out
# at 8 s too); the SDK otherwise waits as long as it is told, on every retry of every call.
RETRY_WAIT_CAP_S = 8.0
_RETRY_HEADERS = {"retry-after": 1.0, "retry-after-ms": 1000.0}  # header -> units per second


def cap_retry_wait(response) -> None:
    """An HTTP response hook: a retry-after or retry-after-ms header asking for more than RETRY_WAIT_CAP_S (or
    giving a date) is rewritten to ask for RETRY_WAIT_CAP_S, so the SDK's retries stay bounded in time."""
    headers = response.headers
    for name in list(headers.keys()):
        per_s = _RETRY_HEADERS.get(name.lower())
        if per_s is None:
            continue
        try:
            wait = float(headers[name]) / per_s
        except ValueError:
            wait = float("inf")  # an HTTP date: however far away, no longer than the cap
        if wait > RETRY_WAIT_CAP_S:
            headers[name] = f"{RETRY_WAIT_CAP_S * per_s:g}"


class CallBreaker:
    """Stops the judge calling an API that cannot answer.

    After `unreachable_after` connection errors in a row (no successful call between them), or `overloaded_after`
    overloaded or 5xx replies in a row, or `overloaded_for_s` seconds of them with no good reply between, check()
    raises JudgeCallError with one line saying what is wrong and what to do. `watches_replies`: the judge's own
    client reports every reply (each try) through on_response(); otherwise overloaded_call() counts a failed call's
    tries.
    """

    def __init__(self, unreachable_after: int = 3, overloaded_after: int = 8, overloaded_for_s: float = 30.0,
                 watches_replies: bool = True):
        self._lock = threading.Lock()
        self.unreachable_after = max(1, int(unreachable_after))
        self._connection_errors = 0  # in a row; a successful call resets it
        self._unreachable_why = ""
        self.overloaded_after = max(1, int(overloaded_after))
        self.overloaded_for_s = float(overloaded_for_s)
        self._overloaded = 0  # overloaded or 5xx replies in a row (every try); a good reply resets it
        self._overloaded_since: float | None = None  # when the run of them began
        self._overloaded_last = 0.0  # when the last of them came
        self._overloaded_why = ""
        self.watches_replies = watches_replies

    def succeeded(self) -> None:
        """A call got a reply: the runs of connection errors and of overloaded replies end."""
        with self._lock:
            self._connection_errors = 0
            self._overloaded, self._overloaded_since = 0, None

    def connection_failed(self, err: Exception) -> None:
        with self._lock:
            self._connection_errors += 1
            self._unreachable_why = why_unreachable(err)

    def check(self) -> None:
        """Raise JudgeCallError, without calling, once `unreachable_after` calls in a row got no connection, or
        once the API has been overloaded for `overloaded_after` replies or `overloaded_for_s` seconds in a row."""
        with self._lock:
            n, why = self._connection_errors, self._unreachable_why
            overloaded = self._overload_line()
        if n >= self.unreachable_after:
            raise JudgeCallError(f"API unreachable: {n} calls in a row got no connection ({why}); not called "
                                 "(check the network and ANTHROPIC_BASE_URL, then re-run: failures are retried)")
        if overloaded:
            raise JudgeCallError(overloaded)

    # -- the overload count (callers hold self._lock) ------------------------------------------------------------
    def _overload_line(self) -> str:
        """"" while the breaker is closed, else the one line every remaining call fails with."""
        n, since = self._overloaded, self._overloaded_since
        lasted = 0.0 if since is None else self._overloaded_last - since  # the run's span, not the time since
        if n < self.overloaded_after and lasted < self.overloaded_for_s:
            return ""
        return (f"API overloaded: {n} replies in a row were {self._overloaded_why} over {lasted:.0f} s; not called "
                "(retry later: failures are retried on the next run; or use the rubric judge, make_judge(\"rubric\"))")

    def _overloaded_reply(self, why: str, replies: int = 1) -> bool:
        """Count `replies` overloaded or 5xx replies; True when the breaker is open."""
        self._overloaded += replies
        self._overloaded_last = time.monotonic()
        if self._overloaded_since is None:
            self._overloaded_since = self._overloaded_last
        self._overloaded_why = why
        return bool(self._overload_line())

    def on_response(self, response) -> None:
        """The HTTP response hook of the judge's own client, run for every try: caps retry-after, counts overloaded
        and 5xx replies, resets on a good one, and once the breaker is open tells the SDK not to retry."""
        cap_retry_wait(response)
        status = response.status_code
        with self._lock:
            if status >= 500:
                if self._overloaded_reply(f"HTTP {status}" + (" (overloaded)" if status == 529 else "")):
                    response.headers["x-should-retry"] = "false"  # the SDK obeys this header
            elif status < 400:
                self._overloaded, self._overloaded_since = 0, None

    def overloaded_call(self, err: Exception, tries: int) -> str:
        """For a call that failed with a 5xx status: its `tries` counted when no hook saw its replies, and, once
        the breaker is open, a note saying why the retries ended."""
        status = getattr(err, "status_code", None)
        if status is None or status < 500:
            return ""
        with self._lock:
            if not self.watches_replies:
                self._overloaded_reply(api_error(err), tries)
            is_open = bool(self._overload_line())
        return " (retries stopped: the API is overloaded; retry later, or use the rubric judge)" if is_open else ""


def watched_client(breaker: CallBreaker, base_url: str | None, max_retries: int, timeout: float):
    """An anthropic SDK client whose every reply passes through `breaker.on_response`. The SDK reads
    ANTHROPIC_API_KEY from the environment itself; the key never passes through this code."""
    import anthropic

    http_client = anthropic.DefaultHttpxClient(event_hooks={"response": [breaker.on_response]})
    return anthropic.Anthropic(base_url=base_url, max_retries=max_retries, timeout=timeout, http_client=http_client)
