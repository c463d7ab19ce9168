"""Answering held-out incident reports with a model and scoring the answers with the task's heuristics."""

from __future__ import annotations

from helpers.generation import answer_reports
from helpers.task import score_responses


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


def side_by_side(examples: list[dict], models: dict, max_new_tokens: int = 96, batch_size: int = 16):
    """Greedy answers of several models to the same reports, one column per model (a DataFrame).

    `models` maps a column name to (model_name, adapter or None); each model is loaded, used and released in turn.
    """
    import gc

    import pandas as pd

    from helpers.models import load_model

    table = pd.DataFrame({"report": [e["report"] for e in examples], "gold": [e["severity"] for e in examples]})
    for name, (model_name, adapter) in models.items():
        model, tokenizer = load_model(model_name, adapter=adapter)
        table[name] = answer_reports(model, tokenizer, [e["report"] for e in examples], max_new_tokens=max_new_tokens,
                                     batch_size=batch_size, desc=name)
        del model
        gc.collect()
    return table
