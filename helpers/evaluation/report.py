"""What Session C shows and writes: the 3-way table as text and markdown, the failure-mode flags, what the
evaluation judge can and cannot tell, the reflection draft and the prompts where SFT+DPO won or lost."""

from __future__ import annotations

import numpy as np

from helpers.evaluation.table import MODELS
from helpers.notes import count_words as word_count  # noqa: F401 (Session C and the checklist count alike)
from helpers.task import unique_ids

NO_JUDGED_PAIRS = "n/a (no judged pairs)"
NO_DATA = "n/a (no data)"


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
    """A DataFrame as a markdown table, its index as the first column."""
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
        "_A draft with this run's numbers. Write your own ~300 words in reflection.md: this draft does not count._",
        "",
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


def judge_lines(eval_judge: str, pairs_judge: str | None) -> list[str]:
    """What the evaluation judge can tell, in a line or two: whether it reads the gold labels, and a one-line
    warning when it is the judge that built Session B's preference pairs (`pairs_judge`, from the run card; None
    when not recorded)."""
    lines = []
    if eval_judge == "rubric":
        lines.append("the rubric judge reads the gold labels: it decides a pair on the answer format first, then on "
                     "the gold severity, so its pairwise row mostly restates the severity row")
    if pairs_judge is None:
        lines.append("which judge built the preference pairs is not recorded here (no run card in the run folder)")
    elif pairs_judge == eval_judge:
        lines.append(f"warning: the evaluation judge ({eval_judge}) is the judge that built the preference pairs: the "
                     "pairwise row asks whether DPO learned that judge's own preferences, not whether the answers got "
                     "better; set eval_judge = \"claude\" (with ANTHROPIC_API_KEY) for a judge that did not build them")
    else:
        lines.append(f"the pairs were built by the {pairs_judge} judge, the evaluation uses the {eval_judge} judge")
    return lines


def rule_lines(rules) -> list[str]:
    """The rule counts of `pairwise_rules` in words: how many verdicts the severity rule decided."""
    total = int(rules["verdicts"].sum())
    if total == 0:
        return ["no pairwise verdicts to count"]
    sev = rules.loc["severity"]
    if int(sev["verdicts"]) == 0:
        return [f"the severity rule decided none of the {total} verdicts: format, component, faithfulness, concision "
                "or a tie decided them all"]
    return [f"the severity rule decided {int(sev['verdicts'])} of {total} verdicts "
            f"(SFT+DPO won {int(sev['SFT+DPO won'])}, SFT won {int(sev['SFT won'])}); on those the pairwise row "
            "repeats the severity row"]


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
