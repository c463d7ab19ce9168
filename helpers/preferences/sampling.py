"""N answers per prompt from the SFT model, each scored by a judge, appended to a resumable log.

The expensive half of building preference data; pairing (`pairing.py`) reads the log, so trying another pairing
rule costs no generation. A failed judge call is logged as a failure, never a score, and retried on the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

from helpers.cache import adapter_digest, content_hash, exclusive
from helpers.generation import sample_n
from helpers.judges import checked_scores, checked_verdict, checked_verdicts, score_range
from helpers.paths import REPO_ROOT
from helpers.preferences.files import read_records, repair_torn_tail
from helpers.preferences.validation import PreferenceDataError
from helpers.progress import tqdm
from helpers.secrets import redact
from helpers.task import format_prompt, unique_ids

COURSE_TEMPERATURES = (0.7, 1.2)  # the course's recipe: one answer at each, the judge picks


def chunk_seed(seed: int, ids: list[str]) -> int:
    """The sampling seed of one chunk of prompts: the run's seed and the chunk's ids, so a resumed run agrees."""
    return seed + int(hashlib.sha256("|".join(ids).encode()).hexdigest()[:8], 16)


def latest_records(records: list[dict]) -> dict[str, dict]:
    """The last record per example id (a prompt whose judging failed is re-scored and recorded again)."""
    return {r["id"]: r for r in records}


def log_path(sft_adapter, judge_name: str, settings: dict) -> Path:
    """Where a build keeps its resumable log: artifacts/preferences/<hash of what determines the samples>, the
    SFT adapter by the content of its weights, not its path (a model retrained into the same folder is new)."""
    key = content_hash({"sft_sha": adapter_digest(sft_adapter), "judge": judge_name, **settings}, n=12)
    return REPO_ROOT / "artifacts" / "preferences" / key / "samples.jsonl"


def _course_indices(temperatures) -> tuple[int, int] | None:
    temps = list(temperatures)
    if all(t in temps for t in COURSE_TEMPERATURES):
        return temps.index(COURSE_TEMPERATURES[0]), temps.index(COURSE_TEMPERATURES[1])
    return None


def _error(error) -> str | None:
    """A judge's error as logged: redacted (the log is a file; no API key may reach it)."""
    return redact(error) if isinstance(error, str) else error


def _sample_entry(text: str, temperature: float, score) -> dict:
    return {"text": text, "temperature": temperature, "score": score.score, "failed": score.failed,
            "error": _error(score.error), "rationale": score.rationale, "details": score.details}


def _course_entry(verdict, low_first: bool) -> dict:
    return {"winner": verdict.winner, "low_first": low_first, "failed": verdict.failed, "error": _error(verdict.error),
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
    items = [(example, record["samples"][i]["text"]) for i in todo]
    scores = checked_scores(judge.score_many(items, progress=False), len(items), judge.name, *score_range(judge))
    samples = list(record["samples"])
    for i, score in zip(todo, scores, strict=True):
        samples[i] = _sample_entry(samples[i]["text"], samples[i]["temperature"], score)
    record = {**record, "samples": samples}
    course = record.get("course")
    if course and course["failed"]:
        i_low, i_high = record["course_indices"]
        low, high = samples[i_low]["text"], samples[i_high]["text"]
        a, b = (low, high) if course["low_first"] else (high, low)
        record["course"] = _course_entry(checked_verdict(judge.compare(example, a, b), judge.name), course["low_first"])
    record["status"] = _status(record)
    return record


def example_sha(example: dict) -> str:
    """The content of one example (report, labels, everything): a record is reused only for the same content."""
    return content_hash(example)


def sample_and_score(examples: list[dict], model, tokenizer, judge, out_path: str | Path,
                     temperatures=(0.7, 1.2, 1.0, 1.0), max_new_tokens: int = 96, batch_size: int = 32,
                     chunk_size: int = 64, seed: int = 0, progress: bool = True) -> list[dict]:
    """Sample len(temperatures) answers per prompt (answer k at temperatures[k], one shared prefill per prompt),
    score each with `judge.score_many`, and append one record per prompt to `out_path` as it goes.

    A record: {"id", "example_sha", "severity", "hard_case", "scenario", "judge", "samples": [{"text",
    "temperature", "score", "failed", "error", "rationale", "details"}], "status": "scored" | "judge_failed"},
    plus, when the temperatures include 0.7 and 1.2, "course": the judge's pairwise verdict between those two
    (shown in a random order). The seed is drawn per chunk of `chunk_size` prompts, and records are appended after
    every generation batch (batch_size // N prompts), so a kill loses one batch at most. Re-running resumes:
    prompts already scored for the same example content are skipped, failed judge calls are retried. One build
    writes a log at a time (a second one waits, then finds the work done).
    Returns the latest record of every example asked for, in input order.
    """
    if len(temperatures) < 2:
        raise ValueError(f"temperatures={list(temperatures)!r}: need at least two answers per prompt to make a pair")
    unique_ids(examples, "sample_and_score", "each prompt needs its own id, or its samples would overwrite "
               "another's in the log")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(out_path, "this preference log"):
        _sample_and_score(examples, model, tokenizer, judge, out_path, list(temperatures), max_new_tokens,
                          batch_size, chunk_size, seed, progress)
    latest = latest_records(read_records(out_path))
    return [latest[e["id"]] for e in examples if e["id"] in latest]


def _read_own_log(out_path: Path) -> list[dict]:
    """The builder's log, resumed: a corrupt line names the log and what to do, in one line."""
    try:
        return read_records(out_path)
    except PreferenceDataError as err:
        raise PreferenceDataError(f"{err}; this is the sample log the build resumes from: delete that line to "
                                  f"sample its prompt again, or delete {out_path} to start the build afresh") from None


def _sample_and_score(examples, model, tokenizer, judge, out_path: Path, temperatures: list[float],
                      max_new_tokens: int, batch_size: int, chunk_size: int, seed: int, progress: bool) -> None:
    repair_torn_tail(out_path)
    by_id = {e["id"]: e for e in examples}
    shas = {e["id"]: example_sha(e) for e in examples}
    # a record of an example whose content has changed since (same id, other report or labels) is not reused
    previous = {i: r for i, r in latest_records(_read_own_log(out_path)).items()
                if i in by_id and r.get("example_sha") == shas[i]}
    failed = [r for r in previous.values() if r["status"] == "judge_failed"]
    if failed:
        if progress:
            print(f"re-scoring {len(failed)} prompts whose judge calls failed last time")
        _write(out_path, [_rescore(r, by_id[r["id"]], judge) for r in failed])
    todo = [e for e in examples if e["id"] not in previous]
    if progress and previous:
        print(f"resuming: {len(examples) - len(todo)} prompts already sampled in {out_path}, {len(todo)} to go")
    course = _course_indices(temperatures)
    n = len(temperatures)
    bar = tqdm(total=len(todo), desc=f"{n} answers per prompt, scored", unit="prompt", disable=not progress)
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start:start + chunk_size]
        seed_k = chunk_seed(seed, [e["id"] for e in chunk])
        rng = random.Random(seed_k)
        low_first = [rng.random() < 0.5 for _ in chunk]  # random order, so position bias is not temperature

        def save_batch(indices: list[int], answers: list[list[str]], chunk=chunk, low_first=low_first) -> None:
            batch = [chunk[i] for i in indices]
            items = [(e, a) for e, texts in zip(batch, answers, strict=True) for a in texts]
            # checked at the boundary: a malformed or missing result is a recorded failure, never a score
            scores = checked_scores(judge.score_many(items, progress=False), len(items), judge.name,
                                    *score_range(judge))
            records = []
            for j, (example, texts) in enumerate(zip(batch, answers, strict=True)):
                records.append({"id": example["id"], "example_sha": shas[example["id"]],
                                "severity": example["severity"], "hard_case": bool(example.get("hard_case")),
                                "scenario": example.get("scenario"), "judge": judge.name,
                                "samples": [_sample_entry(t, temp, s) for t, temp, s
                                            in zip(texts, temperatures, scores[j * n:(j + 1) * n], strict=True)]})
            if course:
                items = []
                for i, example, record in zip(indices, batch, records, strict=True):
                    low, high = record["samples"][course[0]]["text"], record["samples"][course[1]]["text"]
                    items.append((example, low, high) if low_first[i] else (example, high, low))
                verdicts = checked_verdicts(judge.compare_many(items, progress=False), len(items), judge.name)
                for i, record, verdict in zip(indices, records, verdicts, strict=True):
                    record["course_indices"] = list(course)
                    record["course"] = _course_entry(verdict, low_first[i])
            for record in records:
                record["status"] = _status(record)
            _write(out_path, records)
            bar.update(len(batch))

        prompts = [format_prompt(tokenizer, e["report"]) for e in chunk]
        sample_n(model, tokenizer, prompts, temperatures, max_new_tokens=max_new_tokens, batch_size=batch_size,
                 seed=seed_k, progress=False, on_batch=save_batch)
    bar.close()
