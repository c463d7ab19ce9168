"""A small HTTP server on 127.0.0.1 that speaks enough of the Anthropic Messages API for the judge tests.

The real `anthropic` SDK client is pointed at it with `base_url`, so the whole client code path runs (request
building, retries on 429/529/500, error classes, response parsing). Behaviour is chosen by markers in the
request text:
  GOOD            the answer containing it wins (otherwise "tie")
  RATE_ONCE       the first request with this text gets 429, the retry succeeds
  FLAKY           the first request with this text gets its connection closed with no reply, the retry succeeds
  OVERLOADED      always 529 overloaded_error
  BROKEN          always 500
  MALFORMED       200 with content that is not JSON
  EMPTY           200 with no content blocks
  HTTP_GARBAGE    200 whose body is not JSON at all (an HTML error page from a proxy)
  WINNER_C        a comparison reply with winner "C" (outside the schema)
  WINNER_MISSING  a comparison reply with no winner key
  FAITH_9         a faithfulness reply with score 9 (outside 1-5)
  FIRST_WINS      the winner is whichever answer is shown first (a position-biased judge)
A score request ("Score the answer from 1 to 10") gets 9 when its answer contains GOOD, else 4, unless the answer
contains one of these (a reply that must be read as a failure):
  SCORE_11        score 11 (out of range)
  SCORE_STRING    score "7" (a string)
  SCORE_FLOAT     score 7.5
  SCORE_BOOL      score true
  SCORE_MISSING   no score key
Token counting (/v1/messages/count_tokens) honours OVERLOADED and BROKEN too. Batches end at once; their results
are answered like single requests (an error status becomes an "errored" result).

The answers are read from the judge's fenced blocks (<answer_a>, <answer_b>, <answer>), the first opening and
the first closing tag of each, as a naive reader would: a closing-tag look-alike left unescaped in an answer would
cut it short. Two constructor options shape the faults a real API can have:
  retry_headers   the headers sent with every reply to say how long to wait before a retry (default
                  {"retry-after-ms": "1"}: retries at once); {} leaves the SDK to its own exponential backoff,
                  {"retry-after": "2"} asks for 2 s, as an overloaded API does
  batch_order     how a batch's results come back: None (in request order), "reversed", "lagged" (rotated by one:
                  the last result first), "missing" (the first request's result left out), "extra" (a result for
                  an id never sent, first), "replaced" (the last request's result replaced by one for an unknown
                  id), "duplicate" (the first request's id twice, the second time with another request's reply)
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeAnthropic:
    def __init__(self, retry_headers: dict[str, str] | None = None, batch_order: str | None = None):
        self.retry_headers = {"retry-after-ms": "1"} if retry_headers is None else dict(retry_headers)
        self.batch_order = batch_order
        self.requests: list[dict] = []
        self.seen: dict[str, int] = {}
        self.batches: dict[str, dict] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body, headers=None, raw=False, content_type="application/jsonl"):
                data = body.encode() if raw else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", content_type if raw else "application/json")
                for k, v in server.retry_headers.items():
                    self.send_header(k, v)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with server.lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    server.requests.append({"path": self.path, "body": body, "headers": headers})
                if self.path.startswith("/v1/messages/count_tokens"):
                    text = body["messages"][0]["content"]
                    if "OVERLOADED" in text:
                        return self._send(529, _error("overloaded_error", "Overloaded"))
                    if "BROKEN" in text:
                        return self._send(500, _error("api_error", "Internal server error"))
                    return self._send(200, {"input_tokens": len(json.dumps(body)) // 4})
                if self.path.startswith("/v1/messages/batches"):
                    bid = f"msgbatch_{len(server.batches)}"
                    server.batches[bid] = {"requests": body["requests"]}
                    return self._send(200, _batch(bid, "ended", server.url))
                if self.path.startswith("/v1/messages"):
                    status, reply = server.answer(body)
                    if status is None:  # FLAKY: hang up without a reply
                        self.close_connection = True
                        return None
                    if status == "garbage":
                        return self._send(200, "<html><body>502 Bad Gateway</body></html>", raw=True,
                                          content_type="text/html")
                    return self._send(status, reply)
                self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})

            def do_GET(self):
                m = re.match(r"/v1/messages/batches/([^/?]+)(/results)?", self.path)
                if not m or m.group(1) not in server.batches:
                    return self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": "?"}})
                bid = m.group(1)
                if not m.group(2):
                    return self._send(200, _batch(bid, "ended", server.url))
                lines = []
                for req in server.batches[bid]["requests"]:
                    status, reply = server.answer(req["params"], count=False)
                    result = ({"type": "succeeded", "message": reply} if status == 200 else
                              {"type": "errored", "error": {"type": "error", "error": reply["error"]}})
                    lines.append({"custom_id": req["custom_id"], "result": result})
                lines = _reorder(lines, server.batch_order)
                self._send(200, "\n".join(map(json.dumps, lines)) + "\n", raw=True)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _first_time(self, marker: str, text: str) -> bool:
        with self.lock:
            self.seen[marker + text] = self.seen.get(marker + text, 0) + 1
            return self.seen[marker + text] == 1

    def answer(self, body: dict, count: bool = True) -> tuple[int | str | None, dict]:
        text = body["messages"][0]["content"]
        if "FLAKY" in text and count and self._first_time("FLAKY", text):
            return None, {}
        if "HTTP_GARBAGE" in text:
            return ("garbage" if count else 500), _error("api_error", "Bad gateway")
        if "OVERLOADED" in text:
            return 529, _error("overloaded_error", "Overloaded")
        if "BROKEN" in text:
            return 500, _error("api_error", "Internal server error")
        if "RATE_ONCE" in text and count and self._first_time("RATE_ONCE", text):
            return 429, _error("rate_limit_error", "Rate limited")
        if "MALFORMED" in text:
            return 200, _message("I think answer A is somewhat better, overall.")
        if "EMPTY" in text:
            return 200, _message(None)
        if "Rate the answer's faithfulness" in text:
            answer = _block(text, "answer", lambda: text.split("Answer:\n", 1)[1])
            score = 9 if "FAITH_9" in text else 5 if "GOOD" in answer else 2
            return 200, _message(json.dumps({"rationale": "checked", "score": score}))
        if "Score the answer from 1 to 10" in text:
            answer = _block(text, "answer", lambda: text.split("Answer:\n", 1)[1].split("\n\nScore the", 1)[0])
            return 200, _message(json.dumps(_score_reply(answer)))
        a = _block(text, "answer_a", lambda: text.split("Answer A:\n", 1)[1].split("\n\nAnswer B:\n", 1)[0])
        b = _block(text, "answer_b", lambda: text.split("\n\nAnswer B:\n", 1)[1])
        if "WINNER_MISSING" in text:
            return 200, _message(json.dumps({"rationale": "no verdict"}))
        if "WINNER_C" in text:
            winner = "C"
        elif "FIRST_WINS" in text:
            winner = "A"
        else:
            winner = "A" if "GOOD" in a else "B" if "GOOD" in b else "tie"
        return 200, _message(json.dumps({"rationale": f"{winner} follows the rubric", "winner": winner}))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _block(text: str, tag: str, unfenced) -> str:
    """What a naive reader takes for the <tag> block: from the first opening tag to the first closing tag
    (`unfenced()` for a prompt with no such block)."""
    start = text.find(f"<{tag}>")
    if start < 0:
        return unfenced()
    start += len(tag) + 2
    end = text.find(f"</{tag}>", start)
    return text[start:] if end < 0 else text[start:end]


def _reorder(lines: list[dict], order: str | None) -> list[dict]:
    """A batch's result lines as a faulty or merely unordered results stream would send them."""
    if order is None or not lines:
        return lines
    unknown = {"custom_id": "never-sent-0000", "result": {"type": "succeeded", "message": _message(
        json.dumps({"rationale": "not yours", "winner": "A", "score": 9}))}}
    if order == "reversed":
        return lines[::-1]
    if order == "lagged":
        return lines[-1:] + lines[:-1]
    if order == "missing":
        return lines[1:]
    if order == "extra":
        return [unknown, *lines]
    if order == "replaced":
        return [*lines[:-1], unknown]
    if order == "duplicate":
        return [*lines, {**lines[-1], "custom_id": lines[0]["custom_id"]}]
    raise ValueError(f"unknown batch_order {order!r}")


def _score_reply(answer: str) -> dict:
    odd = {"SCORE_11": 11, "SCORE_STRING": "7", "SCORE_FLOAT": 7.5, "SCORE_BOOL": True}
    for marker, score in odd.items():
        if marker in answer:
            return {"rationale": "odd", "score": score}
    if "SCORE_MISSING" in answer:
        return {"rationale": "no score here"}
    return {"rationale": "follows the rubric" if "GOOD" in answer else "misses the rubric",
            "score": 9 if "GOOD" in answer else 4}


def _error(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _message(text: str | None) -> dict:
    content = [] if text is None else [{"type": "text", "text": text}]
    return {"id": "msg_fake", "type": "message", "role": "assistant", "model": "claude-opus-4-7", "content": content,
            "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 100, "output_tokens": 20}}


def _batch(bid: str, status: str, url: str) -> dict:
    return {"id": bid, "type": "message_batch", "processing_status": status,
            "request_counts": {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
            "created_at": "2026-11-27T00:00:00Z", "expires_at": "2026-11-28T00:00:00Z", "ended_at": None,
            "archived_at": None, "cancel_initiated_at": None,
            "results_url": f"{url}/v1/messages/batches/{bid}/results" if status == "ended" else None}
