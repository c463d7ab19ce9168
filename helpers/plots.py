"""Plots the notebooks show: small matplotlib functions, one figure each, returning the figure."""

from __future__ import annotations

import matplotlib.pyplot as plt


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
