"""Answers and scores: each model's greedy answers to the incident reports (cached per example), scored by the
task's heuristics and by a judge (faithfulness per answer, SFT+DPO vs SFT head to head)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers import stats, task
from helpers.cache import cached_per_example, content_hash, model_key
from helpers.generation import answer_reports
from helpers.judges.common import FAITHFULNESS_RANGE, Faithfulness, checked_scores, checked_verdicts
from helpers.models import device, load_model, model_dtype, release_memory, resolve_model_path
from helpers.task import SEVERITIES, parse_response, score_responses, unique_ids


def _same_length(examples: list[dict], answers, what: str) -> None:
    if len(answers) != len(examples):
        raise ValueError(f"{what} has {len(answers)} answers for {len(examples)} examples: one answer per example, "
                         "in the examples' order")


def _judge_name(judge) -> str:
    return str(getattr(judge, "name", None) or type(judge).__name__)


def answer_and_score(model, tokenizer, examples: list[dict], **gen_kwargs):
    """One row per example: the report, the model's greedy answer and its heuristic scores (a DataFrame)."""
    responses = answer_reports(model, tokenizer, [e["report"] for e in examples], **gen_kwargs)
    table = score_responses(responses, examples)
    table.insert(1, "report", [e["report"] for e in examples])
    table.insert(2, "gold_severity", [e["severity"] for e in examples])
    table.insert(3, "response", responses)
    return table


def metric_means(table) -> dict:
    """Mean of each heuristic metric in a scored table, as plain floats."""
    cols = ["format_ok", "severity_match", "component_match", "length_chars"]
    return {c: float(table[c].mean()) for c in cols}


def severity_breakdown(table, examples: list[dict]):
    """A scored table (answer_and_score) summarised for a learner: format, severity and component match overall,
    severity on ordinary and on hard-case reports, and how often each severity was predicted (a model that
    answers one severity for most reports has collapsed). One row per group, as a DataFrame."""
    import pandas as pd

    hard = np.array([bool(e.get("hard_case")) for e in examples])
    predicted = [parse_response(t).severity for t in table["response"]]
    rows = {"all": {"prompts": len(table), "format_ok": table["format_ok"].mean(),
                    "severity_match": table["severity_match"].mean(),
                    "component_match": table["component_match"].mean()}}
    for name, mask in (("ordinary", ~hard), ("hard cases", hard)):
        if mask.any():
            rows[name] = {"prompts": int(mask.sum()), "severity_match": table["severity_match"][mask].mean()}
    frame = pd.DataFrame(rows).T
    for sev in SEVERITIES:
        frame.loc["all", f"predicted {sev}"] = sum(p == sev for p in predicted) / len(predicted)
    frame = frame.round(3)
    return frame.astype(object).where(frame.notna(), "")  # blank where a column does not apply to a group


COLLAPSE_SHARE = 0.8  # one severity in at least this share of the answers: the model has collapsed onto it


def collapse_note(table, who: str = "the SFT model") -> str:
    """One line from a scored table (answer_and_score): whether `who` has collapsed onto one severity (answers it
    for at least COLLAPSE_SHARE of the prompts), with the counts, and what that means for preference pairs."""
    predicted = [parse_response(t).severity for t in table["response"]]
    counts = {s: predicted.count(s) for s in SEVERITIES if predicted.count(s)}
    n = len(predicted)
    if not counts:
        return (f"{who} gave no readable severity on any of the {n} check prompts: it has not learned the answer "
                "format, so no pair can teach a severity in this run")
    top = max(counts, key=counts.get)
    spread = ", ".join(f"{s} {c}" for s, c in counts.items())
    if counts[top] >= COLLAPSE_SHARE * n:
        return (f"collapsed: {who} answered {top} for {counts[top]} of {n} check prompts ({spread}). Its samples "
                "will rarely disagree on the severity, so few pairs can teach the right one: expect DPO to change "
                "little in this run (more SFT examples or epochs, as in the full profile, avoid this)")
    return (f"no collapse: {who} answered {len(counts)} different severities on {n} check prompts ({spread}); its "
            "samples can disagree on the severity, which is what a pair that teaches the right one needs")


def adapter_scores(label: str, model_name: str, adapter, examples: list[dict], max_new_tokens: int = 96,
                   batch_size: int = 16):
    """answer_and_score for one model (base + `adapter`, or the base when None), loaded and released here."""
    model, tokenizer = load_model(model_name, adapter=adapter)
    table = answer_and_score(model, tokenizer, examples, max_new_tokens=max_new_tokens, batch_size=batch_size,
                             desc=label)
    del model
    release_memory()
    return table


def compare_adapters(examples: list[dict], model_name: str, adapters: dict, max_new_tokens: int = 96,
                     batch_size: int = 16):
    """Greedy answers of several adapters on the same prompts, scored: format, severity (overall and on hard
    cases) and component match with 95% bootstrap intervals, one row per model (a DataFrame)."""
    import pandas as pd

    hard = np.array([bool(e.get("hard_case")) for e in examples])
    rows = []
    for label, adapter in adapters.items():
        table = adapter_scores(label, model_name, adapter, examples, max_new_tokens, batch_size)
        row = {"model": label}
        for metric, values in (("format", table["format_ok"]), ("severity", table["severity_match"]),
                               ("severity (hard cases)", table["severity_match"][hard]),
                               ("component", table["component_match"])):
            mean, low, high = stats.bootstrap_ci(values)
            row[metric] = f"{mean:.2f} [{low:.2f}, {high:.2f}]"
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def side_by_side(examples: list[dict], models: dict, max_new_tokens: int = 96, batch_size: int = 16):
    """Greedy answers of several models to the same reports, one column per model (a DataFrame).

    `models` maps a column name to (model_name, adapter or None); each model is loaded, used and released in turn.
    """
    import pandas as pd

    table = pd.DataFrame({"report": [e["report"] for e in examples], "gold": [e["severity"] for e in examples]})
    for name, (model_name, adapter) in models.items():
        model, tokenizer = load_model(model_name, adapter=adapter)
        table[name] = answer_reports(model, tokenizer, [e["report"] for e in examples], max_new_tokens=max_new_tokens,
                                     batch_size=batch_size, desc=name)
        del model
        release_memory()
    return table


def cached_answers(label: str, model_name: str, adapter, examples: list[dict], cache_dir: str | Path,
                   max_new_tokens: int = 96, batch_size: int = 16) -> list[str]:
    """Greedy answers of one model, cached in cache_dir/<label>.jsonl, so re-running the scoring costs no
    generation; only missing answers are generated (and appended). An answer is reused only for the same content:
    the example's id and report text (a report edited in place is answered again), the base model (its name and the
    digest of its config and tokenizer files), the adapter's weights (its digest, not its path: an adapter retrained
    into the same folder is answered again), the system prompt, and the generation settings (max_new_tokens, batch
    size, dtype and device: bf16 and fp32 answers differ a little, and so do batches padded differently)."""
    unique_ids(examples, f"cached_answers({label!r})")
    settings = model_key(model_name, resolve_model_path(str(model_name)), adapter, decoding="greedy",
                         max_new_tokens=max_new_tokens, batch_size=batch_size,
                         dtype=str(model_dtype()).removeprefix("torch."), device=device().type,
                         prompt=content_hash(task.SYSTEM_PROMPT))

    def generate(todo: list[dict]) -> list[str]:
        model, tokenizer = load_model(model_name, adapter=adapter)
        fresh = answer_reports(model, tokenizer, [e["report"] for e in todo], max_new_tokens=max_new_tokens,
                               batch_size=batch_size, desc=label)
        del model
        release_memory()
        return fresh

    return cached_per_example(Path(cache_dir) / f"{label.replace('+', '_plus_')}.jsonl", settings, examples,
                              generate, "response", key=("id", "report"))


def per_prompt_scores(examples: list[dict], answers: dict[str, list[str]], judge, progress: bool = True):
    """One row per (prompt, model): heuristic metrics, judge faithfulness (NaN when the judge failed), length.
    The judge's output is checked: anything but a number from 1 to 5 is a failure (NaN, its error kept)."""
    import pandas as pd

    unique_ids(examples, "per_prompt_scores")
    frames = []
    for label, texts in answers.items():
        _same_length(examples, texts, f"answers[{label!r}]")
        table = score_responses(texts, examples)
        items = list(zip(examples, texts, strict=True))
        faith = checked_scores(judge.faithfulness_many(items, progress=progress), len(items), _judge_name(judge),
                               *FAITHFULNESS_RANGE, kind=Faithfulness)
        table["faithfulness"] = [np.nan if f.failed else float(f.score) for f in faith]
        table["faithfulness_error"] = [f.error for f in faith]
        table["model"] = label
        table["response"] = texts
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def pairwise(examples: list[dict], first: list[str], second: list[str], judge, progress: bool = True):
    """`second` vs `first` judged head to head in both orders. Per prompt: 1 win, 0.5 tie, 0 loss for `second`,
    averaged over the two orders; NaN when a judge call failed or returned anything but a clean "a", "b" or "tie"
    (missing data, never a verdict)."""
    import pandas as pd

    unique_ids(examples, "pairwise")
    _same_length(examples, first, "first")
    _same_length(examples, second, "second")
    name, n = _judge_name(judge), len(examples)
    forward = checked_verdicts(judge.compare_many([(e, s, f) for e, f, s in zip(examples, first, second, strict=True)],
                                                  progress=progress), n, name)  # second shown as "a"
    backward = checked_verdicts(judge.compare_many([(e, f, s) for e, f, s in zip(examples, first, second,
                                                                                  strict=True)],
                                                   progress=progress), n, name)  # second shown as "b"
    rows = []
    for e, vf, vb in zip(examples, forward, backward, strict=True):
        if vf.failed or vb.failed:
            score = np.nan
        else:
            score = ({"a": 1.0, "tie": 0.5, "b": 0.0}[vf.winner] + {"b": 1.0, "tie": 0.5, "a": 0.0}[vb.winner]) / 2
        rows.append({"id": e["id"], "score": score, "verdict_second_first": vf.winner,
                     "verdict_second_last": vb.winner, "rationale": vf.rationale,
                     "error": vf.error or vb.error})
    return pd.DataFrame(rows, columns=["id", "score", "verdict_second_first", "verdict_second_last", "rationale",
                                       "error"])
