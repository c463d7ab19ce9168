"""Plots the notebooks show: small matplotlib functions, one figure each, returning the figure."""

from __future__ import annotations

import textwrap
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from helpers.preferences.report import pair_kind, severity_push
from helpers.task import SEVERITIES
from helpers.transfer import DIFFERENCE


def policies_for_prompt(ref_logprobs, optimal_logprobs, reward, prompt: int = 0, beta: float | None = None):
    """pi_ref and pi* side by side for one toy prompt, with the true reward on a second axis."""
    k = reward.shape[-1]
    xs = range(k)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.bar([x - 0.2 for x in xs], ref_logprobs[prompt].exp(), width=0.4, label="pi_ref")
    ax.bar([x + 0.2 for x in xs], optimal_logprobs[prompt].exp(), width=0.4, label="pi* (closed form)")
    ax.set_xlabel("response y")
    ax.set_ylabel("probability")
    ax2 = ax.twinx()
    ax2.plot(xs, reward[prompt], "k.--", label="r(x, y)")
    ax2.set_ylabel("true reward")
    title = f"prompt {prompt}: pi* moves mass toward high reward"
    ax.set_title(title + (f" (beta={beta})" if beta else ""))
    fig.legend(loc="upper right", bbox_to_anchor=(0.88, 0.88), fontsize=8)
    fig.tight_layout()
    return fig


def reward_recovery(table, learned_centered, true_centered):
    """Left: learned vs true reward (per-prompt constants removed). Right: how both measures improve with pairs."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.scatter(true_centered.flatten(), learned_centered.flatten(), s=18)
    lo, hi = float(true_centered.min()), float(true_centered.max())
    a.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
    a.set_xlabel("true reward (centred per prompt)")
    a.set_ylabel("DPO implicit reward (centred)")
    a.set_title(f"{table['pairs'].iloc[-1]} pairs")
    a.legend()
    b.plot(table["pairs"], table["reward correlation"], "o-", label="reward correlation")
    b.plot(table["pairs"], table["TV(pi_theta, pi*)"], "s-", label="TV distance to pi*")
    b.set_xscale("log")
    b.set_xlabel("preference pairs")
    b.set_ylim(0, 1.02)
    b.legend()
    b.set_title("more pairs: reward recovered, policy -> pi*")
    fig.tight_layout()
    return fig


def beta_sweep(table):
    """KL to the reference and true-reward gain against beta (log scale)."""
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.plot(table["beta"], table["KL(pi||pi_ref)"], "o-", color="C3", label="KL(pi_theta || pi_ref)")
    ax.set_xscale("log")
    ax.set_xlabel("beta")
    ax.set_ylabel("KL (nats)", color="C3")
    ax2 = ax.twinx()
    ax2.plot(table["beta"], table["true reward gain"], "s-", color="C0", label="true reward gain over pi_ref")
    ax2.set_ylabel("true reward gain", color="C0")
    ax.set_title("low beta: large drift from the reference; high beta: the policy barely moves")
    fig.tight_layout()
    return fig


def preference_quality(pairs_by_strategy: dict):
    """Per pair-construction strategy: what the pairs say about severity (signal, anti-signal, both right, both
    wrong) and how many prompts gave no pair; how much each severity is chosen more often than rejected (the push
    DPO can follow without reading the report); and the chosen vs rejected answer lengths."""
    kinds = ["signal", "both right", "both wrong", "anti-signal"]
    colours = {"signal": "tab:green", "both right": "tab:blue", "both wrong": "tab:gray", "anti-signal": "tab:red",
               "no pair": "white"}
    names = list(pairs_by_strategy)
    fig, (a, c, b) = plt.subplots(1, 3, figsize=(16 + max(0, len(names) - 2), 3.8))
    for x, name in enumerate(names):
        pairs = pairs_by_strategy[name]
        counts = Counter(pair_kind(p) for p in pairs if p["status"] == "kept")
        # prompts, not records: best_vs_each_severity gives a prompt several pairs, balancing drops some of them
        counts["no pair"] = len({p["id"] for p in pairs} - {p["id"] for p in pairs if p["status"] == "kept"})
        bottom = 0
        for kind in kinds + ["no pair"]:
            a.bar(x, counts[kind], bottom=bottom, color=colours[kind], edgecolor="black", linewidth=0.5,
                  label=kind if x == 0 else None)
            bottom += counts[kind]
    a.set_xticks(range(len(names)), [textwrap.fill(n.replace("_", " "), 14) for n in names], fontsize=8)
    a.set_ylabel("pairs kept / prompts with none")
    a.set_title("what each recipe's pairs teach about severity")
    a.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    for name in names:
        kept = [p for p in pairs_by_strategy[name] if p["status"] == "kept"]
        diffs = [len(p["chosen"][0]["content"]) - len(p["rejected"][0]["content"]) for p in kept]
        if diffs:
            b.hist(diffs, bins=30, alpha=0.5, label=name)
    width = 0.8 / len(names)
    for x, name in enumerate(names):
        push = severity_push(pairs_by_strategy[name])
        c.bar([i + (x - (len(names) - 1) / 2) * width for i in range(len(SEVERITIES))],
              [push[s] for s in SEVERITIES], width=width, label=name)
    c.set_xticks(range(len(SEVERITIES)), SEVERITIES)
    c.axhline(0, color="black", linewidth=0.8)
    c.set_ylabel("pairs choosing it - pairs rejecting it")
    c.set_title("the push on each severity, whatever the report says")
    c.legend(fontsize=7)
    b.axvline(0, color="black", linewidth=0.8)
    b.set_xlabel("chosen length - rejected length (characters)")
    b.set_title("does the judge reward verbosity? (right of 0: longer chosen)")
    b.legend(fontsize=8)
    fig.tight_layout()
    return fig


def dpo_training(frame):
    """Loss, reward gap (train and validation), reward accuracy and KL to the reference, against step."""
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.2))
    panels = [
        ("loss", [("loss", "train"), ("eval_loss", "validation")]),
        ("reward gap (chosen - rejected)", [("rewards/margins", "train"), ("eval_rewards/margins", "validation")]),
        ("reward accuracy", [("rewards/accuracies", "train"), ("eval_rewards/accuracies", "validation")]),
        ("KL(pi_theta || pi_ref), nats", [("eval_kl", "held-out prompts")]),
    ]
    for ax, (title, series) in zip(axes, panels, strict=True):
        for col, label in series:
            if col in frame and frame[col].notna().any():
                s = frame[col].dropna()
                ax.plot(s.index, s.values, "o-" if col.startswith("eval") else "-", label=label, ms=4)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def three_way_bars(table):
    """Grouped bars per metric (Base, SFT, SFT+DPO) with 95% bootstrap intervals; faithfulness scaled to 0-1."""
    rows = [r for r in ["Format-conformance", "Severity match", "P(right severity)", "Component match",
                        "Faithfulness (judge)"] if r in table.index]
    models = ["Base", "SFT", "SFT+DPO"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 3.6), gridspec_kw={"width_ratios": [len(rows), 1]})
    width = 0.27
    for k, label in enumerate(models):
        scale = [5.0 if r.startswith("Faithfulness") else 1.0 for r in rows]
        means = [table.loc[r, label] / s for r, s in zip(rows, scale, strict=True)]
        lows = [table.loc[r, f"{label} low"] / s for r, s in zip(rows, scale, strict=True)]
        highs = [table.loc[r, f"{label} high"] / s for r, s in zip(rows, scale, strict=True)]
        xs = [i + (k - 1) * width for i in range(len(rows))]
        ax.bar(xs, means, width=width, label=label,
               yerr=[[m - lo for m, lo in zip(means, lows, strict=True)],
                     [hi - m for m, hi in zip(means, highs, strict=True)]], capsize=3)
    ticks = {"Format-conformance": "format", "Severity match": "severity", "P(right severity)": "P(right severity)",
             "Component match": "component", "Faithfulness (judge)": "faithfulness / 5"}
    ax.set_xticks(range(len(rows)), [ticks[r] for r in rows])
    ax.set_ylim(0, 1.05)
    ax.legend(ncol=3, fontsize=8)
    ax.set_title("held-out prompts, 95% bootstrap intervals")
    pref = table.loc["Preferred (judge pairwise vs SFT)"]
    ax2.bar([0], [pref["SFT+DPO"]], yerr=[[pref["SFT+DPO"] - pref["SFT+DPO low"]],
                                          [pref["SFT+DPO high"] - pref["SFT+DPO"]]], capsize=4, color="C2")
    ax2.axhline(0.5, color="k", ls="--", lw=1)
    ax2.set_xticks([0], ["SFT+DPO vs SFT"])
    ax2.set_ylim(0, 1.05)
    ax2.set_title("judge preference")
    fig.tight_layout()
    return fig


def transfer_bars(gap, metric: str = "Severity match"):
    """`metric` per model on the in-template eval and on the unseen scenarios, 95% intervals, chance as a line."""
    rows = gap.loc[metric]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    width = 0.38
    for k, (group, color) in enumerate((("in-template", "C0"), ("unseen", "C3"))):
        means = rows[group].to_numpy()
        err = [means - rows[f"{group} low"].to_numpy(), rows[f"{group} high"].to_numpy() - means]
        ax.bar([i + (k - 0.5) * width for i in range(len(rows))], means, width=width, yerr=err, capsize=3,
               color=color, label=f"{group} (n={int(rows[f'n {group}'].iloc[0])})")
    chance = rows["chance"].iloc[0]
    if chance == chance:  # not NaN
        ax.axhline(chance, color="k", ls="--", lw=1, label=f"chance ({chance:.2f})")
    ax.set_xticks(range(len(rows)), list(rows.index))
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(metric.lower())
    ax.set_title(f"{metric}: scenarios the model trained on vs never saw")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def confusion_change(confusion: dict, group: str = "unseen reports"):
    """Heatmaps of gold x answered severity, one per model of `confusion` (transfer.dpo_confusion) and one for the
    difference (blue: more answers there after DPO, red: fewer), the count written in each cell, the right answers
    (the diagonal) outlined."""
    fig, axes = plt.subplots(1, len(confusion), figsize=(4.4 * len(confusion), 3.9))
    top = max([int(c.to_numpy().max()) for k, c in confusion.items() if k != DIFFERENCE] + [1])
    for ax, (name, frame) in zip(axes, confusion.items(), strict=True):
        values = frame.to_numpy()
        is_diff = name == DIFFERENCE
        limit = max(int(abs(values).max()), 1) if is_diff else top
        ax.imshow(values, cmap="RdBu" if is_diff else "Blues", vmin=-limit if is_diff else 0, vmax=limit)
        for (i, j), v in np.ndenumerate(values.astype(int)):
            ax.text(j, i, (f"{v:+d}" if v else "0") if is_diff else str(v), ha="center", va="center", fontsize=9,
                    color="white" if abs(v) > 0.6 * limit else "black")
        for k in range(min(values.shape)):
            ax.add_patch(Rectangle((k - 0.5, k - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.2))
        ax.set_xticks(range(values.shape[1]), [str(c) for c in frame.columns], fontsize=8)
        ax.set_yticks(range(values.shape[0]), [str(r) for r in frame.index], fontsize=8)
        ax.set_xlabel("answered severity")
        ax.set_ylabel("gold severity")
        ax.set_title(f"{name}: change per cell" if is_diff else name)
    fig.suptitle(f"{group}: gold vs answered severity (outlined: right answers)")
    fig.tight_layout()
    return fig
