"""N answers per prompt from the SFT model, each scored on its own by a judge, kept in a resumable log.

This is the expensive half of building preference data (generation and judging); choosing pairs from the scored
samples is cheap and lives in `pairing.py`, so a learner can try another pairing rule without sampling again.

One JSONL record per prompt is appended (and fsynced) as soon as its chunk is done, so an interrupted build
resumes where it stopped and loses no finished prompt. A judge call that fails is recorded as a failure (score
None), never as a score; the next run re-scores only those answers, from the samples already in the log.
When the temperatures include 0.7 and 1.2, the course's recipe (the judge picks between those two) is judged in
the same pass, so both recipes come from the same samples at no extra sampling cost.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

from tqdm import tqdm

from helpers.generation import sample_n
from helpers.task import format_prompt

COURSE_TEMPERATURES = (0.7, 1.2)  # the course's recipe: one answer at each, the judge picks


def chunk_seed(seed: int, ids: list[str]) -> int:
    return seed + int(hashlib.sha256("|".join(ids).encode()).hexdigest()[:8], 16)


def read_records(path: str | Path) -> list[dict]:
    """A builder's log: one record per prompt. A torn last line from an interrupted write is ignored."""
    from helpers.preferences.validation import PreferenceDataError

    path = Path(path)
    if not path.exists():
        return []
    records = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if lineno == len(lines):
                break  # the run was interrupted mid-write; that prompt is redone
            raise PreferenceDataError(f"{path.name}:{lineno}: not valid JSON") from None
    return records


def repair_torn_tail(path: Path) -> None:
    """Cut a last line left incomplete by an interrupted write, so appended records start on a fresh line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def latest_records(records: list[dict]) -> dict[str, dict]:
    """The last record per example id (a prompt whose judging failed is re-scored and recorded again)."""
    return {r["id"]: r for r in records}


def log_path(sft_adapter, judge_name: str, settings: dict) -> Path:
    """Where a build keeps its resumable log: artifacts/preferences/<hash of what determines the samples>."""
    from helpers.task import REPO_ROOT

    key = json.dumps({"sft": str(sft_adapter), "judge": judge_name, **settings}, sort_keys=True)
    return REPO_ROOT / "artifacts" / "preferences" / hashlib.sha256(key.encode()).hexdigest()[:12] / "samples.jsonl"


def _course_indices(temperatures) -> tuple[int, int] | None:
    temps = list(temperatures)
    if all(t in temps for t in COURSE_TEMPERATURES):
        return temps.index(COURSE_TEMPERATURES[0]), temps.index(COURSE_TEMPERATURES[1])
    return None


def _sample_entry(text: str, temperature: float, score) -> dict:
    return {"text": text, "temperature": temperature, "score": score.score, "failed": score.failed,
            "error": score.error, "rationale": score.rationale, "details": score.details}


def _course_entry(verdict, low_first: bool) -> dict:
    return {"winner": verdict.winner, "low_first": low_first, "failed": verdict.failed, "error": verdict.error,
            "rationale": verdict.rationale, "details": verdict.details}


def _status(record: dict) -> str:
    failed = any(s["failed"] for s in record["samples"]) or bool(record.get("course", {}).get("failed"))
    return "judge_failed" if failed else "scored"


def _write(path: Path, records: list[dict]) -> None:
    with path.open("a", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _rescore(record: dict, example: dict, judge) -> dict:
    """Re-run the judge calls that failed in `record` (the samples are kept: nothing is generated again)."""
    todo = [i for i, s in enumerate(record["samples"]) if s["failed"]]
    scores = judge.score_many([(example, record["samples"][i]["text"]) for i in todo], progress=False)
    samples = list(record["samples"])
    for i, score in zip(todo, scores, strict=True):
        samples[i] = _sample_entry(samples[i]["text"], samples[i]["temperature"], score)
    record = {**record, "samples": samples}
    course = record.get("course")
    if course and course["failed"]:
        i_low, i_high = record["course_indices"]
        low, high = samples[i_low]["text"], samples[i_high]["text"]
        a, b = (low, high) if course["low_first"] else (high, low)
        record["course"] = _course_entry(judge.compare(example, a, b), course["low_first"])
    record["status"] = _status(record)
    return record


def sample_and_score(examples: list[dict], model, tokenizer, judge, out_path: str | Path,
                     temperatures=(0.7, 1.2, 1.0, 1.0), max_new_tokens: int = 96, batch_size: int = 32,
                     chunk_size: int = 64, seed: int = 0, progress: bool = True) -> list[dict]:
    """Sample len(temperatures) answers per prompt (answer k at temperatures[k], one shared prefill per prompt),
    score each with `judge.score_many`, and append one record per prompt to `out_path` as it goes.

    A record: {"id", "severity", "hard_case", "scenario", "judge", "samples": [{"text", "temperature", "score",
    "failed", "error", "rationale", "details"}], "status": "scored" | "judge_failed"}, plus, when the temperatures
    include 0.7 and 1.2, "course": the judge's pairwise verdict between those two (shown in a random order).
    Re-running resumes: scored prompts are skipped, failed judge calls are retried. Returns the latest record
    of every example asked for, in input order.
    """
    if len(temperatures) < 2:
        raise ValueError(f"temperatures={list(temperatures)!r}: need at least two answers per prompt to make a pair")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    repair_torn_tail(out_path)
    by_id = {e["id"]: e for e in examples}
    previous = latest_records(read_records(out_path))
    failed = [r for i, r in previous.items() if i in by_id and r["status"] == "judge_failed"]
    if failed:
        if progress:
            print(f"re-scoring {len(failed)} prompts whose judge calls failed last time")
        _write(out_path, [_rescore(r, by_id[r["id"]], judge) for r in failed])
    todo = [e for e in examples if e["id"] not in previous]
    if progress and previous:
        print(f"resuming: {len(examples) - len(todo)} prompts already sampled in {out_path}, {len(todo)} to go")
    course = _course_indices(temperatures)
    bar = tqdm(total=len(todo), desc=f"{len(temperatures)} answers per prompt, scored", unit="prompt",
               disable=not progress)
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start:start + chunk_size]
        seed_k = chunk_seed(seed, [e["id"] for e in chunk])
        prompts = [format_prompt(tokenizer, e["report"]) for e in chunk]
        answers = sample_n(model, tokenizer, prompts, list(temperatures), max_new_tokens=max_new_tokens,
                           batch_size=batch_size, seed=seed_k, progress=False)
        scores = judge.score_many([(e, a) for e, texts in zip(chunk, answers, strict=True) for a in texts],
                                  progress=False)
        n = len(temperatures)
        records = []
        rng = random.Random(seed_k)
        for j, (example, texts) in enumerate(zip(chunk, answers, strict=True)):
            record = {"id": example["id"], "severity": example["severity"],
                      "hard_case": bool(example.get("hard_case")), "scenario": example.get("scenario"),
                      "judge": judge.name,
                      "samples": [_sample_entry(t, temp, s) for t, temp, s
                                  in zip(texts, temperatures, scores[j * n:(j + 1) * n], strict=True)]}
            records.append(record)
        if course:
            items, orders = [], []
            for example, record in zip(chunk, records, strict=True):
                low, high = record["samples"][course[0]]["text"], record["samples"][course[1]]["text"]
                low_first = rng.random() < 0.5  # random order, so position bias is not temperature
                items.append((example, low, high) if low_first else (example, high, low))
                orders.append(low_first)
            verdicts = judge.compare_many(items, progress=False)
            for record, verdict, low_first in zip(records, verdicts, orders, strict=True):
                record["course_indices"] = list(course)
                record["course"] = _course_entry(verdict, low_first)
        for record in records:
            record["status"] = _status(record)
        _write(out_path, records)
        bar.update(len(chunk))
    bar.close()
    latest = latest_records(read_records(out_path))
    return [latest[e["id"]] for e in examples if e["id"] in latest]
