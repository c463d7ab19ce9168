"""Reading what the Messages API sends back: the JSON object in a reply, the winner or score in it, and an SDK
error in one line. Anything that cannot be used raises JudgeCallError, which the judge records as a failure.

Error lines name the error's class, HTTP status and network reason, never its body or the request's headers; and
every error line and JudgeCallError message passes through `redact`, so a malformed key quoted by the HTTP layer
("Illegal header value b'sk-ant-...\\n'") is never shown, logged or saved.
"""

from __future__ import annotations

from helpers.secrets import redact
from helpers.task import first_json_object


class JudgeCallError(RuntimeError):
    """A judge call that failed after the SDK's retries, or whose reply could not be read. Its message is redacted."""

    def __init__(self, message: str = ""):
        super().__init__(redact(message))


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
    obj, _, _ = first_json_object(text)
    if obj is None:
        raise JudgeCallError(f"reply is not JSON: {text[:120]!r}")
    return obj


def read_winner(reply: dict) -> str:
    """"A", "B" or "tie" from a comparison reply ("a", "answer a" and the like accepted)."""
    winner = str(reply.get("winner", "")).strip()
    normal = {"a": "A", "b": "B", "tie": "tie", "answer a": "A", "answer b": "B"}.get(winner.lower())
    if normal is None:
        raise JudgeCallError(f"reply has no winner A, B or tie: {str(reply)[:120]}")
    return normal


def read_int_score(reply: dict, low: int, high: int) -> int:
    """The reply's "score" when it is a JSON integer from low to high (not a string, a float or a boolean)."""
    score = reply.get("score")
    if type(score) is not int or not low <= score <= high:
        raise JudgeCallError(f"reply has no integer score from {low} to {high}: {str(reply)[:120]}")
    return score


def read_faithfulness(reply: dict) -> int:
    return read_int_score(reply, 1, 5)


def read_point_score(reply: dict) -> int:
    return read_int_score(reply, 1, 10)


def api_error(err: Exception) -> str:
    """One line naming an SDK error (its class and HTTP status), without its body."""
    status = getattr(err, "status_code", None)
    return redact(f"HTTP {status} {type(err).__name__}" if status else type(err).__name__)


def why_unreachable(err: Exception) -> str:
    """api_error plus, for a connection error, the network's own reason ("[Errno 111] Connection refused"), one
    line. It comes from the HTTP layer, which quotes a malformed header (a key pasted with a newline): redacted."""
    if getattr(err, "status_code", None) is not None:
        return api_error(err)  # an HTTP status says enough; its body is left out
    cause = err.__cause__ or err.__context__
    reason = " ".join(str(cause).split())[:100] if cause is not None and str(cause) else ""
    return redact(f"{api_error(err)} ({reason})" if reason else api_error(err))
