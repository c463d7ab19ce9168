"""Preference data: building (prompt, chosen, rejected) triples with a judge, validating them, and the public
UltraFeedback alternative converted to the same format.

Triples are in TRL's conversational format: "prompt" is a list of messages (system + user), "chosen" and
"rejected" are one-message lists with the assistant's answer. The builder appends one JSONL record per prompt as
it goes, so an interrupted run resumes where it stopped and loses no finished triple.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from helpers.generation import generate
from helpers.task import build_messages, format_prompt, parse_response

TRIPLE_KEYS = ("prompt", "chosen", "rejected")


class PreferenceDataError(ValueError):
    """Preference rows that must not reach the trainer; the message lists every bad row with its reason."""


# ----------------------------------------------------------------------------- validation


def _message_problem(messages, what: str, roles: tuple[str, ...]) -> str | None:
    if not isinstance(messages, list) or not messages:
        return f"{what} must be a non-empty list of messages"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            return f"{what}[{i}] is not a {{'role': str, 'content': str}} message"
        if m["role"] not in roles:
            return f"{what}[{i}] has role {m['role']!r}, expected one of {roles}"
        if not m["content"].strip():
            return f"{what}[{i}] has empty content"
    return None


def row_problem(row) -> str | None:
    """Why one preference row is unusable, or None. Accepts conversational and plain-string rows."""
    if not isinstance(row, dict):
        return f"not a mapping but {type(row).__name__}"
    missing = [k for k in TRIPLE_KEYS if k not in row]
    if missing:
        return "missing key(s): " + ", ".join(missing)
    prompt, chosen, rejected = (row[k] for k in TRIPLE_KEYS)
    if all(isinstance(v, str) for v in (prompt, chosen, rejected)):
        for k in TRIPLE_KEYS:
            if not row[k].strip():
                return f"{k} is empty"
        return "chosen and rejected are identical" if chosen.strip() == rejected.strip() else None
    if not all(isinstance(v, list) for v in (prompt, chosen, rejected)):
        kinds = {k: type(row[k]).__name__ for k in TRIPLE_KEYS}
        return f"wrong types {kinds}: all three must be strings or all three lists of messages"
    problem = (_message_problem(prompt, "prompt", ("system", "user", "assistant"))
               or _message_problem(chosen, "chosen", ("assistant",))
               or _message_problem(rejected, "rejected", ("assistant",)))
    if problem:
        return problem
    if prompt[-1]["role"] != "user":
        return "prompt must end with a user message"
    if [m["content"].strip() for m in chosen] == [m["content"].strip() for m in rejected]:
        return "chosen and rejected are identical"
    return None


def validate_preferences(rows, raise_on_error: bool = True) -> list[tuple[int, str]]:
    """Check every row; return [(index, reason)] of the bad ones, or raise PreferenceDataError listing them all."""
    bad = [(i, p) for i, row in enumerate(rows) if (p := row_problem(row))]
    if bad and raise_on_error:
        shown = "\n".join(f"  row {i}: {reason}" for i, reason in bad[:50])
        more = f"\n  ... and {len(bad) - 50} more" if len(bad) > 50 else ""
        raise PreferenceDataError(f"{len(bad)} of {len(rows)} preference rows are unusable:\n{shown}{more}")
    return bad


# ----------------------------------------------------------------------------- building with a judge


def _chunk_seed(seed: int, ids: list[str]) -> int:
    return seed + int(hashlib.sha256("|".join(ids).encode()).hexdigest()[:8], 16)


def read_records(path: str | Path) -> list[dict]:
    """The builder's log: one record per judged prompt. A torn last line from an interrupted write is ignored."""
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
    """The last record per example id (a prompt whose judging failed is retried and recorded again)."""
    return {r["id"]: r for r in records}


def build_preference_dataset(examples: list[dict], model, tokenizer, judge, out_path: str | Path,
                             temperatures: tuple[float, float] = (0.7, 1.2), max_new_tokens: int = 96,
                             batch_size: int = 16, chunk_size: int = 32, seed: int = 0, val_fraction: float = 0.1,
                             progress: bool = True):
    """Sample two answers per prompt from the SFT model (one per temperature), let `judge` pick, and append one
    record per prompt to `out_path` (JSONL) as it goes.

    Records keep the triple (TRL conversational format) and metadata: example id, both temperatures, judge,
    verdict, rationale, presentation order. Ties and identical answers are recorded and dropped from the
    triples; judge failures are recorded and retried on the next run. Re-running resumes: prompts already
    decided are skipped. Returns (DatasetDict with "train" and "validation", list of all records).
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    repair_torn_tail(out_path)
    done = {i for i, r in latest_records(read_records(out_path)).items() if r["status"] != "judge_failed"}
    todo = [e for e in examples if e["id"] not in done]
    if progress and done:
        print(f"resuming: {len(done)} prompts already decided in {out_path}, {len(todo)} to go")
    bar = tqdm(total=len(todo), desc="preference pairs", unit="prompt", disable=not progress)
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start:start + chunk_size]
        chunk_seed = _chunk_seed(seed, [e["id"] for e in chunk])
        prompts = [format_prompt(tokenizer, e["report"]) for e in chunk]
        samples = [generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, temperature=t,
                            batch_size=batch_size, seed=chunk_seed + k, progress=False)
                   for k, t in enumerate(temperatures)]
        rng = random.Random(chunk_seed)
        items, orders = [], []
        for i, example in enumerate(chunk):
            low_first = rng.random() < 0.5  # which sample is shown as "a": random, so position bias is not temperature
            a, b = (samples[0][i], samples[1][i]) if low_first else (samples[1][i], samples[0][i])
            items.append((example, a, b))
            orders.append((temperatures[0], temperatures[1]) if low_first else (temperatures[1], temperatures[0]))
        verdicts = judge.compare_many(items, progress=False)
        with out_path.open("a", encoding="utf-8") as f:
            for (example, a, b), (t_a, t_b), verdict in zip(items, orders, verdicts, strict=True):
                f.write(json.dumps(_record(example, a, b, t_a, t_b, verdict), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        bar.update(len(chunk))
    bar.close()
    records = list(latest_records(read_records(out_path)).values())
    wanted = {e["id"] for e in examples}
    records = [r for r in records if r["id"] in wanted]
    return to_dataset(records, val_fraction=val_fraction, seed=seed), records


def _record(example, a, b, t_a, t_b, verdict) -> dict:
    base = {"id": example["id"], "severity": example["severity"], "judge": verdict.judge,
            "verdict": verdict.winner, "rationale": verdict.rationale, "details": verdict.details,
            "shown_first_temperature": t_a, "response_a": a, "response_b": b,
            "temperature_a": t_a, "temperature_b": t_b}
    if verdict.failed:
        return {**base, "status": "judge_failed", "error": verdict.error}
    if a.strip() == b.strip():
        return {**base, "status": "identical"}
    if verdict.winner == "tie":
        return {**base, "status": "tie"}
    chosen, rejected = (a, b) if verdict.winner == "a" else (b, a)
    t_chosen, t_rejected = (t_a, t_b) if verdict.winner == "a" else (t_b, t_a)
    return {**base, "status": "kept", "prompt": build_messages(example["report"]),
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
            "temperature_chosen": t_chosen, "temperature_rejected": t_rejected}


def triples(records: list[dict]) -> list[dict]:
    """Only the kept triples, as {"prompt", "chosen", "rejected"} rows."""
    return [{k: r[k] for k in TRIPLE_KEYS} for r in records if r.get("status") == "kept"]


def to_dataset(records: list[dict], val_fraction: float = 0.1, seed: int = 0):
    """Validated triples as a DatasetDict with a held-out "validation" split (split by example, seeded)."""
    from datasets import Dataset, DatasetDict

    kept = [r for r in records if r.get("status") == "kept"]
    rows = triples(kept)
    validate_preferences(rows)
    ids = sorted(r["id"] for r in kept)
    random.Random(seed).shuffle(ids)
    n_val = int(round(len(ids) * val_fraction)) if len(ids) > 1 else 0
    val_ids = set(ids[:n_val])
    train = [row for row, r in zip(rows, kept, strict=True) if r["id"] not in val_ids]
    val = [row for row, r in zip(rows, kept, strict=True) if r["id"] in val_ids]
    features = None if train else _empty_features()
    return DatasetDict({"train": Dataset.from_list(train, features=features),
                        "validation": Dataset.from_list(val, features=features if not val else None)})


def _empty_features():
    from datasets import Features, List, Value

    msgs = List({"role": Value("string"), "content": Value("string")})
    return Features({"prompt": msgs, "chosen": msgs, "rejected": msgs})


# ----------------------------------------------------------------------------- the quality report


def quality_report(records: list[dict], rubric_judge=None, agreement_sample: int = 100):
    """Counts, rates and biases of a built preference set, as a one-column DataFrame (metric -> value)."""
    import pandas as pd

    status = Counter(r["status"] for r in records)
    kept = [r for r in records if r["status"] == "kept"]
    n = len(records)
    rows = {"prompts judged": n, "triples kept": status["kept"], "ties dropped": status["tie"],
            "identical pairs dropped": status["identical"], "judge failures": status["judge_failed"],
            "tie rate": status["tie"] / n if n else float("nan"),
            "drop rate (ties + identical + failures)": (n - status["kept"]) / n if n else float("nan")}
    if kept:
        def rate(key, fn):
            return sum(fn(r[key][0]["content"]) for r in kept) / len(kept)

        rows.update({
            "chosen length (chars, mean)": sum(len(r["chosen"][0]["content"]) for r in kept) / len(kept),
            "rejected length (chars, mean)": sum(len(r["rejected"][0]["content"]) for r in kept) / len(kept),
            "chosen longer than rejected": sum(len(r["chosen"][0]["content"]) > len(r["rejected"][0]["content"])
                                               for r in kept) / len(kept),
            "chosen format-valid": rate("chosen", lambda t: parse_response(t).valid),
            "rejected format-valid": rate("rejected", lambda t: parse_response(t).valid),
            "chosen severity correct": sum(parse_response(r["chosen"][0]["content"]).severity == r["severity"]
                                           for r in kept) / len(kept),
            "rejected severity correct": sum(parse_response(r["rejected"][0]["content"]).severity == r["severity"]
                                             for r in kept) / len(kept),
            "chosen was the low-temperature sample": sum(r["temperature_chosen"] < r["temperature_rejected"]
                                                         for r in kept) / len(kept),
            "chosen was shown first": sum(r["verdict"] == "a" for r in kept) / len(kept),
        })
    judged = [r for r in records if r["status"] != "judge_failed"]
    with_order = [r for r in judged if "position_disagreement" in (r.get("details") or {})]
    if with_order:
        rows["position disagreement (judge, both orders)"] = (
            sum(r["details"]["position_disagreement"] for r in with_order) / len(with_order))
    if rubric_judge is not None and judged and judged[0]["judge"] != getattr(rubric_judge, "name", ""):
        from helpers.task import load_split

        gold = {e["id"]: e for split in ("prefs", "sft", "eval") for e in load_split(split)}
        sample = [r for r in judged if r["id"] in gold][:agreement_sample]
        agree = sum(rubric_judge.compare(gold[r["id"]], r["response_a"], r["response_b"]).winner == r["verdict"]
                    for r in sample)
        rows[f"agreement with the rubric judge (n={len(sample)})"] = agree / len(sample) if sample else float("nan")
    return pd.DataFrame({"value": pd.Series(rows)})


# ----------------------------------------------------------------------------- the public dataset


def load_ultrafeedback(source: str = "HuggingFaceH4/ultrafeedback_binarized", split: str = "train_prefs",
                       limit: int | None = None) -> list[dict]:
    """UltraFeedback (binarized) as workbook triples.

    `source` is the hub name (needs network) or a local .parquet / .jsonl / .json file with the same schema:
    `prompt` (str), `prompt_id`, `chosen` and `rejected` (message lists that begin with the user turn),
    `score_chosen`, `score_rejected`. Returns rows {"prompt": [user msg], "chosen": [assistant msgs...],
    "rejected": [...], "id", "score_chosen", "score_rejected"}; every row is validated.
    """
    from datasets import load_dataset

    path = Path(source).expanduser()
    if path.exists():
        kind = {".parquet": "parquet", ".jsonl": "json", ".json": "json"}.get(path.suffix)
        if kind is None:
            raise ValueError(f"{path}: expected a .parquet, .jsonl or .json file")
        ds = load_dataset(kind, data_files=str(path), split="train")
    else:
        try:
            ds = load_dataset(source, split=split)
        except Exception as err:  # offline: ConnectionError, OfflineModeIsEnabled, DatasetNotFoundError ...
            raise FileNotFoundError(
                f"could not load {source!r} split {split!r} ({type(err).__name__}). Offline, download the parquet "
                "file elsewhere and pass its local path as `source`.") from err
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    rows, bad = [], []
    for i, ex in enumerate(ds):
        try:
            rows.append(_convert_ultrafeedback(ex))
        except (KeyError, TypeError, ValueError) as err:
            bad.append((i, str(err)))
    bad += [(i, p) for i, p in validate_preferences(rows, raise_on_error=False)]
    if bad:
        shown = "\n".join(f"  row {i}: {reason}" for i, reason in bad[:50])
        raise PreferenceDataError(f"{len(bad)} unusable UltraFeedback rows in {source}:\n{shown}")
    return rows


def _convert_ultrafeedback(ex: dict) -> dict:
    prompt = ex["prompt"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt must be a non-empty string")

    def completion(key):
        msgs = ex[key]
        if not isinstance(msgs, list) or not msgs:
            raise ValueError(f"{key} must be a non-empty list of messages")
        if msgs[0].get("role") != "user" or msgs[0].get("content") != prompt:
            raise ValueError(f"{key} must start with the user turn that repeats the prompt")
        rest = [{"role": m["role"], "content": m["content"]} for m in msgs[1:]]
        if not rest:
            raise ValueError(f"{key} has no assistant answer after the prompt")
        return rest

    return {"prompt": [{"role": "user", "content": prompt}], "chosen": completion("chosen"),
            "rejected": completion("rejected"), "id": str(ex.get("prompt_id", "")),
            "score_chosen": ex.get("score_chosen"), "score_rejected": ex.get("score_rejected")}


def preferences_log_path(sft_adapter, judge_name: str, settings: dict) -> Path:
    """Where a preference build keeps its resumable log: artifacts/preferences/<hash of what determines it>."""
    from helpers.task import REPO_ROOT

    key = json.dumps({"sft": str(sft_adapter), "judge": judge_name, **settings}, sort_keys=True)
    return REPO_ROOT / "artifacts" / "preferences" / hashlib.sha256(key.encode()).hexdigest()[:12] / "pairs.jsonl"


def write_triples(records: list[dict], path: str | Path) -> Path:
    """The kept triples with their metadata (no raw a/b copies), one JSON object per line."""
    path = Path(path)
    drop = {"response_a", "response_b"}
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            if r.get("status") == "kept":
                f.write(json.dumps({k: v for k, v in r.items() if k not in drop}, ensure_ascii=False) + "\n")
    return path
