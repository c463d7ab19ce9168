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
