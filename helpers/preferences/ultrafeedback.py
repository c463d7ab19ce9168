"""The public alternative: UltraFeedback (binarized), converted to the workbook's triple format and validated."""

from __future__ import annotations

from pathlib import Path

from helpers.preferences.validation import PreferenceDataError, validate_preferences


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
