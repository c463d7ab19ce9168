"""The data-quality report: what each pair-construction strategy would teach DPO, before any training.

For every strategy, side by side: how many prompts gave a pair and why the others were dropped; which rule or
score gap decided the pairs; the share of **signal pairs** (chosen right on severity, rejected wrong) and of
**anti-signal pairs** (the reverse: DPO would learn the wrong severity); chosen and rejected lengths (verbosity
bias) and format. Severity correctness is read against the gold label, whatever the judge was.
"""

from __future__ import annotations

from collections import Counter

from helpers.judges.common import value_problem
from helpers.task import SEVERITIES, parse_response


def _text(pair: dict, key: str) -> str:
    return pair[key][0]["content"]


def pair_kind(pair: dict) -> str:
    """"signal", "anti-signal", "both right" or "both wrong": severity of chosen and rejected against gold."""
    chosen, rejected = pair_severities(pair)
    c, r = chosen == pair["severity"], rejected == pair["severity"]
    return {(True, False): "signal", (False, True): "anti-signal", (True, True): "both right",
            (False, False): "both wrong"}[(c, r)]


def pair_severities(pair: dict) -> tuple[str | None, str | None]:
    """The severities the chosen and the rejected answer give (None where none can be read)."""
    return parse_response(_text(pair, "chosen")).severity, parse_response(_text(pair, "rejected")).severity


def severity_push(pairs: list[dict]) -> dict[str, int]:
    """Per severity, how many kept pairs choose it minus how many reject it: the push DPO gets toward (or away
    from) answering that severity whatever the report says. "none" counts answers with no readable severity."""
    push = Counter({s: 0 for s in SEVERITIES})
    for p in pairs:
        if p.get("status") == "kept":
            chosen, rejected = pair_severities(p)
            push[chosen or "none"] += 1
            push[rejected or "none"] -= 1
    return dict(push)


def strategy_report(pairs: list[dict]) -> dict:
    """One strategy's numbers, as an ordered dict (metric -> value)."""
    n = len({p["id"] for p in pairs})  # a prompt can give several pairs (best_vs_each_severity)
    status = Counter(p["status"] for p in pairs)
    kept = [p for p in pairs if p["status"] == "kept"]
    row = {"prompts": n, "pairs kept": len(kept),
           "prompts with no usable pair": n - len({p["id"] for p in kept}),
           "  dropped: tie": status["tie"] + status["identical"],
           "  dropped: score gap too small": status["small_gap"],
           "  dropped: near-identical": status["near_identical"],
           "  dropped: judge failed": status["judge_failed"],
           "  dropped: to balance the severities": status["unbalanced"]}
    if not kept:
        return row
    k = len(kept)
    kind_of = [pair_kind(p) for p in kept]
    kinds = Counter(kind_of)
    # the signal pairs whose rejected answer is well-formed: the kind of mistake greedy decoding makes
    hard_signal = sum(kind == "signal" and parse_response(_text(p, "rejected")).valid
                      for kind, p in zip(kind_of, kept, strict=True))
    row.update({"signal pairs (chosen right, rejected wrong)": kinds["signal"] / k,
                "  of them with a well-formed rejected": hard_signal / k,
                "anti-signal pairs (chosen wrong, rejected right)": kinds["anti-signal"] / k,
                "both right on severity": kinds["both right"] / k,
                "both wrong on severity": kinds["both wrong"] / k})
    for rule, count in sorted(Counter(p["decided_by"] for p in kept).items(), key=lambda kv: -kv[1]):
        row[f"decided by: {rule}"] = count / k
    gaps = [p["score_gap"] for p in kept if p.get("score_gap") is not None]
    if gaps:
        row["score gap (mean)"] = sum(gaps) / len(gaps)
    lengths_c = [len(_text(p, "chosen")) for p in kept]
    lengths_r = [len(_text(p, "rejected")) for p in kept]
    row.update({
        "chosen length (chars, mean)": sum(lengths_c) / k,
        "rejected length (chars, mean)": sum(lengths_r) / k,
        "chosen longer than rejected": sum(c > r for c, r in zip(lengths_c, lengths_r, strict=True)) / k,
        "chosen format-valid": sum(parse_response(_text(p, "chosen")).valid for p in kept) / k,
        "rejected format-valid": sum(parse_response(_text(p, "rejected")).valid for p in kept) / k,
        "hard cases among pairs": sum(bool(p.get("hard_case")) for p in kept) / k,
    })
    # chosen minus rejected, per severity: what DPO can learn without reading the report (0 when balanced)
    row.update({f"push: {s} chosen - rejected": n for s, n in severity_push(kept).items()})
    return row


def quality_report(pairs_by_strategy: dict[str, list[dict]]):
    """The report for several strategies, one column each (a DataFrame; counts and shares)."""
    import pandas as pd

    rows = {name: strategy_report(pairs) for name, pairs in pairs_by_strategy.items()}
    return pd.DataFrame(rows)


def sample_report(records: list[dict]):
    """How the N samples themselves look, per temperature: how many judge calls failed (an unreachable API shows
    here first), format-valid and severity-right shares, mean score, and how many prompts had at least one right
    and one wrong severity (the raw material for signal pairs)."""
    import pandas as pd

    rows = {}
    temps = sorted({s["temperature"] for r in records for s in r["samples"]})
    for t in temps:
        samples = [(r, s) for r in records for s in r["samples"] if s["temperature"] == t]
        # only real scores: a failure, or anything a judge logged that is not a number, is left out of the mean
        scored = [s["score"] for _, s in samples if s.get("failed") is False and value_problem(s["score"]) is None]
        rows[f"T={t}"] = {
            "answers": len(samples),
            "judge calls failed": len(samples) - len(scored),
            "format-valid": sum(parse_response(s["text"]).valid for _, s in samples) / len(samples),
            "severity right": sum(parse_response(s["text"]).severity == r["severity"] for r, s in samples)
            / len(samples),
            "judge score (mean)": sum(scored) / len(scored) if scored else float("nan"),
        }
    frame = pd.DataFrame(rows)
    mixed = sum(len({parse_response(s["text"]).severity == r["severity"] for s in r["samples"]}) == 2
                for r in records)
    frame.attrs["prompts with a right and a wrong severity"] = mixed
    return frame
