"""Evaluation: answering held-out incident reports, scoring the answers (heuristics + judge), and Session C's
3-way comparison of base, SFT and SFT+DPO with bootstrap intervals, paired tests and failure-mode flags."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers import paths, stats
from helpers.cache import cached_per_example
from helpers.generation import answer_reports
from helpers.judges.common import (
    FAITHFULNESS_RANGE,
    Faithfulness,
    checked_scores,
    checked_verdicts,
)
from helpers.paths import load_metrics, repo_path
from helpers.task import score_responses, unique_ids

NO_JUDGED_PAIRS = "n/a (no judged pairs)"
NO_DATA = "n/a (no data)"


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

    from helpers.task import SEVERITIES, parse_response

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


def adapter_scores(label: str, model_name: str, adapter, examples: list[dict], max_new_tokens: int = 96,
                   batch_size: int = 16):
    """answer_and_score for one model (base + `adapter`, or the base when None), loaded and released here."""
    from helpers.models import load_model, release_memory

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

    from helpers.models import load_model, release_memory

    table = pd.DataFrame({"report": [e["report"] for e in examples], "gold": [e["severity"] for e in examples]})
    for name, (model_name, adapter) in models.items():
        model, tokenizer = load_model(model_name, adapter=adapter)
        table[name] = answer_reports(model, tokenizer, [e["report"] for e in examples], max_new_tokens=max_new_tokens,
                                     batch_size=batch_size, desc=name)
        del model
        release_memory()
    return table


# ----------------------------------------------------------------------------- Session C: the 3-way evaluation



MODELS = ("Base", "SFT", "SFT+DPO")


def cached_answers(label: str, model_name: str, adapter, examples: list[dict], cache_dir: str | Path,
                   max_new_tokens: int = 96, batch_size: int = 16) -> list[str]:
    """Greedy answers of one model, cached in cache_dir/<label>.jsonl keyed by example id and settings, so
    re-running the scoring costs no generation; only missing answers are generated (and appended)."""
    from helpers.models import load_model, model_dtype, release_memory

    unique_ids(examples, f"cached_answers({label!r})")
    settings = {"model": model_name, "adapter": str(adapter) if adapter else None, "max_new_tokens": max_new_tokens,
                "dtype": str(model_dtype()).removeprefix("torch.")}  # bf16 and fp32 answers differ a little

    def generate(todo: list[dict]) -> list[str]:
        model, tokenizer = load_model(model_name, adapter=adapter)
        fresh = answer_reports(model, tokenizer, [e["report"] for e in todo], max_new_tokens=max_new_tokens,
                               batch_size=batch_size, desc=label)
        del model
        release_memory()
        return fresh

    return cached_per_example(Path(cache_dir) / f"{label.replace('+', '_plus_')}.jsonl", settings, examples,
                              generate, "response")


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


METRIC_ROWS = [("Format-conformance", "format_ok"), ("Severity match", "severity_match"),
               ("P(right severity)", "severity_prob"), ("Component match", "component_match"),
               ("Faithfulness (judge)", "faithfulness"), ("Length (chars)", "length_chars")]
OPTIONAL_COLUMNS = {"severity_prob"}  # added by severity_probs.add_to_scores; a table without it has no such row


def three_way_table(scores, pair, n_boot: int = 10_000, seed: int = 0):
    """The course's table with uncertainty: per metric and model the mean and a 95% bootstrap interval, the
    paired difference SFT+DPO - SFT with its interval and paired tests, and the pairwise preference row.
    Returns a long numeric DataFrame (one row per metric). A row with no data (n = 0: every judge call failed, or
    no prompts) has NaN means and p-values, shown as "n/a" by display_table, never p = 1.0."""
    import pandas as pd

    if len(scores):
        dup = scores[scores.duplicated(["id", "model"])]
        if len(dup):
            raise ValueError(f"three_way_table: duplicate example id {dup['id'].iloc[0]!r} for model "
                             f"{dup['model'].iloc[0]!r}; every prompt must appear once per model")
    unique_ids(list(pair["id"]) if "id" in pair else [], "three_way_table (pairwise)")
    rows = []
    for name, col in METRIC_ROWS:
        if col in OPTIONAL_COLUMNS and col not in scores:
            continue
        row = {"Metric": name}
        wide = _wide(scores, col)
        for label in MODELS:  # a model with no rows at all: NaN (no data), nothing missing
            m, lo, hi = stats.bootstrap_ci(_column(wide, label), n_boot=n_boot, seed=seed)
            row.update({label: m, f"{label} low": lo, f"{label} high": hi,
                        f"{label} missing": int(wide[label].isna().sum()) if label in wide else 0})
        d = stats.paired_diffs(_column(wide, "SFT"), _column(wide, "SFT+DPO"))
        m, lo, hi = stats.bootstrap_ci(d, n_boot=n_boot, seed=seed)
        row.update({"Δ DPO over SFT": m, "Δ low": lo, "Δ high": hi, "p (sign)": stats.sign_test(d),
                    "p (permutation)": stats.permutation_test(d, seed=seed), "n": len(d)})
        rows.append(row)
    w = stats.win_rate(pair["score"] if "score" in pair else [], n_boot=n_boot, seed=seed)
    rows.append({"Metric": "Preferred (judge pairwise vs SFT)", "SFT+DPO": w["rate"], "SFT+DPO low": w["low"],
                 "SFT+DPO high": w["high"], "SFT+DPO missing": w["missing"], "Δ DPO over SFT": w["rate"] - 0.5,
                 "Δ low": w["low"] - 0.5, "Δ high": w["high"] - 0.5, "p (sign)": w["p_sign"],
                 "p (permutation)": w["p_permutation"], "n": w["n"],
                 "wins/ties/losses": f"{w['wins']}/{w['ties']}/{w['losses']}"})
    return pd.DataFrame(rows).set_index("Metric")


def _wide(scores, col):
    """One column per model that has rows, one row per prompt id (empty when there are no scores)."""
    import pandas as pd

    if len(scores) == 0:
        return pd.DataFrame(dtype=float)
    return scores.pivot(index="id", columns="model", values=col)


def _column(wide, label: str):
    """wide[label], or an all-NaN column when that model has no rows (nothing to pair with)."""
    import pandas as pd

    return wide[label] if label in wide else pd.Series(np.nan, index=wide.index, dtype=float)


def _missing(x) -> bool:
    return x is None or (isinstance(x, (float, np.floating)) and np.isnan(x))


def _no_data(metric: str) -> str:
    judged = metric.startswith("Preferred") or "(judge)" in metric
    return NO_JUDGED_PAIRS if judged else NO_DATA


def _cell(m, lo, hi, pct: bool, digits: int = 2) -> str:
    if _missing(m):
        return "n/a"
    if pct:
        return f"{100 * m:.0f}% [{100 * lo:.0f}, {100 * hi:.0f}]"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def display_table(table):
    """The course's shape, `| Metric | Base | SFT | SFT+DPO | Δ DPO over SFT |`, with intervals and p-values as
    text (a DataFrame)."""
    import pandas as pd

    out = []
    for metric, r in table.iterrows():
        pref = metric.startswith("Preferred")
        length = metric.startswith("Length")
        digits = 0 if length else 2
        row = {"Metric": metric}
        for label in MODELS:
            row[label] = "-" if pref and label != "SFT+DPO" else _cell(r.get(label), r.get(f"{label} low"),
                                                                        r.get(f"{label} high"), pref, digits)
        if int(r["n"]) == 0 or _missing(r["Δ DPO over SFT"]):  # nothing to compare: no rate, no p-value
            row["Δ DPO over SFT"] = row["p (sign test)"] = _no_data(metric)
            if pref:
                row["SFT+DPO"] = _no_data(metric)
        else:
            if pref:
                d = f"{100 * r['Δ DPO over SFT']:+.0f}pp [{100 * r['Δ low']:+.0f}, {100 * r['Δ high']:+.0f}]"
            else:
                d = f"{r['Δ DPO over SFT']:+.{digits}f} [{r['Δ low']:+.{digits}f}, {r['Δ high']:+.{digits}f}]"
            row["Δ DPO over SFT"] = d
            row["p (sign test)"] = "n/a" if _missing(r["p (sign)"]) else f"{r['p (sign)']:.3f}"
        row["n"] = int(r["n"])
        out.append(row)
    return pd.DataFrame(out).set_index("Metric")


def to_markdown(frame) -> str:
    cols = [frame.index.name or ""] + list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, r in frame.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [str(v) for v in r.values]) + " |")
    return "\n".join(lines)


def _missing_data_flags(table) -> list[str]:
    """Judge rows with no data (n = 0) or with failed judge calls: say so, and why it matters."""
    flags = []
    for metric, what in (("Preferred (judge pairwise vs SFT)", "pairwise judgements"),
                         ("Faithfulness (judge)", "faithfulness scores")):
        if metric not in table.index:
            continue
        r = table.loc[metric]
        missing = int(sum(v for k, v in r.items() if str(k).endswith(" missing") and not _missing(v)))
        if int(r["n"]) == 0:
            why = (f"the judge calls failed ({missing} {what} missing): check ANTHROPIC_API_KEY and the network, "
                   "or use the rubric judge" if missing else "there were no prompts to judge")
            flags.append(f"{metric}: {NO_JUDGED_PAIRS}: {why}; nothing can be concluded from this row")
        elif missing:
            flags.append(f"{metric}: {missing} {what} failed and are left out as missing data (n = {int(r['n'])})")
    return flags


def failure_flags(table, dpo_metrics: dict | None, length_growth: float = 0.10) -> list[str]:
    """The course's failure modes, checked on the measured numbers; first, any judge row with missing data."""
    flags = _missing_data_flags(table)
    rate_rows = ["Format-conformance", "Severity match", "Component match", "Faithfulness (judge)"]
    significant = {m: table.loc[m, "p (sign)"] < 0.05 for m in rate_rows if m in table.index}
    deltas = {m: table.loc[m, "Δ DPO over SFT"] for m in rate_rows if m in table.index}
    final = (dpo_metrics or {}).get("final", {})
    train_gap = final.get("rewards/margins")
    if train_gap is not None and train_gap > 0 and not any(significant.values()):
        flags.append(f"reward gap grew (final training gap {train_gap:.3f}) but no eval metric moved significantly: "
                     "reward-gap growth is necessary, not sufficient")
    ups = [m for m, d in deltas.items() if d > 0.02]
    downs = [m for m, d in deltas.items() if d < -0.02]
    if ups and downs:
        flags.append(f"DPO won on {', '.join(ups)} and lost on {', '.join(downs)}: look at several metrics")
    if "Length (chars)" in table.index:
        sft_len = table.loc["Length (chars)", "SFT"]
        d_len = table.loc["Length (chars)", "Δ DPO over SFT"]
        if sft_len and d_len / sft_len > length_growth:
            flags.append(f"answers grew by {100 * d_len / sft_len:.0f}% in length: possible verbosity exploitation "
                         "(does the judge prefer longer answers?)")
    kl = (dpo_metrics or {}).get("kl") or {}
    kl_values = [v for v in kl.values() if v is not None]
    if kl_values:
        kl_max = max(kl_values)
        if kl_max < 0.05:
            flags.append(f"KL to the reference stayed below {kl_max:.3f} nats: the policy barely moved "
                         "(beta too high, or too few steps / too low a learning rate)")
        if kl_max > (dpo_metrics or {}).get("kl_warn_nats", 5.0):
            flags.append(f"KL reached {kl_max:.2f} nats: drift from the SFT model (beta too low?)")
    pref = table.loc["Preferred (judge pairwise vs SFT)"] if "Preferred (judge pairwise vs SFT)" in table.index \
        else None
    if pref is not None and not _missing(pref["SFT+DPO"]) and pref["SFT+DPO"] <= 0.5:
        flags.append("DPO does not win pairwise against SFT: the preference data may be off")
    return flags


def reflection_scaffold(table, flags: list[str], n_triples: int | None, judge_name: str,
                        transfer: list[str] | None = None) -> str:
    """A ~300-word reflection 'What DPO did to my model - and what it didn't', pre-filled with the numbers.
    `transfer`: sentences on the unseen-scenario group (helpers/transfer.py). Edit the [brackets] into your words."""
    def num(x, spec):
        return "n/a" if _missing(x) else format(x, spec)

    def line(metric):
        r = table.loc[metric]
        if int(r["n"]) == 0:
            return f"{metric}: {_no_data(metric)}"
        return (f"{metric}: SFT {num(r['SFT'], '.2f')} -> SFT+DPO {num(r['SFT+DPO'], '.2f')} "
                f"(Δ {r['Δ DPO over SFT']:+.2f}, 95% CI [{r['Δ low']:+.2f}, {r['Δ high']:+.2f}], "
                f"sign-test p = {num(r['p (sign)'], '.3f')})")

    pref = table.loc["Preferred (judge pairwise vs SFT)"]
    if int(pref["n"]) == 0:
        pref_line = f"- Pairwise, the judge's preference of SFT+DPO over SFT: {NO_JUDGED_PAIRS}."
    else:
        pref_line = (f"- Pairwise, the judge preferred SFT+DPO over SFT on {100 * pref['SFT+DPO']:.0f}% of prompts "
                     f"(95% CI [{100 * pref['SFT+DPO low']:.0f}%, {100 * pref['SFT+DPO high']:.0f}%], "
                     f"wins/ties/losses {pref.get('wins/ties/losses', '?')}, "
                     f"sign-test p = {num(pref['p (sign)'], '.3f')}).")
    text = [
        "# What DPO did to my model - and what it didn't", "",
        f"I DPO-trained my SFT model on {n_triples} preference triples judged by {judge_name}, and evaluated base, "
        f"SFT and SFT+DPO on {int(table['n'].iloc[0])} held-out incident reports.", "",
        "What moved:", "",
        *[f"- {line(m)}" for m in ("Format-conformance", "Severity match", "Component match", "Faithfulness (judge)")],
        pref_line, "",
        "What the checks flagged:", "",
        *([f"- {f}" for f in flags] or ["- nothing: no failure mode tripped"]), "",
        *(["Does it transfer? The same models on incident types and phrasings never trained on:", "",
           *[f"- {t}" for t in transfer], ""] if transfer else []),
        "[In your words: which of these differences would survive a larger eval set, and which are noise? "
        "Did DPO change format and style more than facts? What did the judge reward, and is that what you want? "
        "What would you change first: the data, the judge, beta, or the number of steps?"
        + (" How much of each model's score is template recall, and did DPO teach anything that transfers?"
           if transfer else "") + "]", "",
    ]
    return "\n".join(text)


def word_count(text: str) -> int:
    return len([w for w in text.split() if any(ch.isalnum() for ch in w)])


def checklist(run_dir: str | Path, notes_dir: str | Path):
    """End-of-week artifacts, each with its path and whether it exists (a DataFrame)."""
    import pandas as pd

    run_dir, notes_dir = Path(run_dir), Path(notes_dir)
    prefs_path = run_dir / "preferences.jsonl"
    n_triples = sum(1 for _ in prefs_path.open()) if prefs_path.exists() else 0
    notes = sorted(p for p in notes_dir.glob("*.md") if p.name != "README.md") if notes_dir.exists() else []
    items = [
        ("DPO paper notes", notes_dir / "*.md", bool(notes), f"{len(notes)} file(s)"),
        ("500+ preference triples", prefs_path, n_triples >= 500,
         f"{n_triples} triples" + ("" if n_triples >= 500 else " (pairs without a clear lesson are dropped on "
                                   "purpose: Session B's data report says why; more prompts give more pairs)")),
        ("DPO-trained adapter", run_dir / "dpo_adapter", (run_dir / "dpo_adapter" / "adapter_config.json").exists(),
         ""),
        ("Run card", run_dir / "run_card.md", (run_dir / "run_card.md").exists(), ""),
        ("3-way eval comparison", run_dir / "three_way_table.md", (run_dir / "three_way_table.md").exists(), ""),
        ("Reflection note", run_dir / "reflection.md", (run_dir / "reflection.md").exists(), ""),
    ]
    return pd.DataFrame([{"artifact": a, "path": str(p), "done": ok, "detail": d} for a, p, ok, d in items])


def resolve_adapters(run_dir: str | Path, sft_adapter: str = "", dpo_adapter: str = "") -> tuple[Path, Path]:
    """The SFT and DPO adapters to compare: given explicitly, or the ones Session B recorded in the run folder.
    A missing one gets an error naming what produces it."""

    if not (sft_adapter and dpo_adapter):
        try:
            recorded = load_metrics(run_dir, "02_preferences_and_dpo")
        except FileNotFoundError:
            done = sorted(paths.RUNS_DIR.glob("*/02_preferences_and_dpo.metrics.json"), key=lambda p: p.stat().st_mtime)
            hint = (f"; the newest run with Session B results is {done[-1].parent}: set run_dir = "
                    f"\"{done[-1].parent.relative_to(paths.RUNS_DIR.parent)}\"" if done else "")
            raise FileNotFoundError(
                f"no Session B results in run_dir {Path(run_dir).resolve()}: run notebooks/02_preferences_and_dpo.ipynb"
                f" with the same run_dir first, or set sft_adapter and dpo_adapter{hint}") from None
        sft_adapter = sft_adapter or recorded["sft_adapter"]
        dpo_adapter = dpo_adapter or recorded["dpo_adapter"]
    sft_path, dpo_path = repo_path(sft_adapter), repo_path(dpo_adapter)  # relative: from the repository root
    for what, path in (("SFT", sft_path), ("DPO", dpo_path)):
        if not (path / "adapter_config.json").exists():
            raise FileNotFoundError(f"the {what} adapter {path} is missing (no adapter_config.json there): "
                                    "notebooks/02_preferences_and_dpo.ipynb (or `make workbook`) produces it")
    return sft_path, dpo_path


def wins_and_losses(examples: list[dict], answers: dict[str, list[str]], pair, n: int = 3):
    """Prompts where SFT+DPO won and where it lost against SFT, the two answers side by side."""
    import pandas as pd

    unique_ids(examples, "wins_and_losses")
    frame = pd.DataFrame({"id": [e["id"] for e in examples], "report": [e["report"] for e in examples],
                          "gold": [e["severity"] for e in examples], "SFT": answers["SFT"],
                          "SFT+DPO": answers["SFT+DPO"]})
    frame = frame.merge(pair[["id", "score", "rationale"]], on="id")
    won = frame[frame.score > 0.5].head(n).assign(outcome="DPO won")
    lost = frame[frame.score < 0.5].head(n).assign(outcome="DPO lost")
    return pd.concat([won, lost]).set_index("outcome")
