"""Session A's exercises: the closed-form optimum, what preferences identify of a reward, the DPO loss, and a
prediction of how KL moves with beta. Each check compares the learner's answer with `helpers.dpo_math` on small
random tables, names the likely mistake with the concept behind it, and returns what the notebook goes on with.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from helpers import dpo_math as dm
from helpers.exercises import core
from helpers.exercises.core import Verdict, right, unfilled, wrong

TOLERANCE = 1e-6
CHECK_BETA = 0.3  # neither 1 (a missing beta would go unseen) nor 0.5 (r * beta and r / beta would differ less)


def _tables(seed: int = 0, n_prompts: int = 3, n_responses: int = 5):
    g = torch.Generator().manual_seed(seed)
    ref = torch.log_softmax(torch.randn(n_prompts, n_responses, generator=g, dtype=torch.float64), -1)
    return ref, 1.5 * torch.randn(n_prompts, n_responses, generator=g, dtype=torch.float64)


def _close(a, b) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a.double(), b.double(),
                                                                                  atol=TOLERANCE, rtol=TOLERANCE)


def _as_tensor(value, what: str) -> tuple[torch.Tensor | None, Verdict | None]:
    """The learner's return value as a tensor, or the verdict that says what it should have been."""
    if value is None or value is Ellipsis:
        return None, unfilled()
    if isinstance(value, tuple):
        return None, wrong(f"your function returned a tuple of {len(value)}; return only {what}",
                           "dm.dpo_loss also returns the implicit rewards; your function returns the losses alone")
    if not isinstance(value, torch.Tensor):
        return None, wrong(f"your function returned {type(value).__name__}; return {what} as a torch tensor",
                           "build it from the input tensors with torch operations (torch.log_softmax, F.logsigmoid)")
    return value, None


# ----------------------------------------------------------------------------- section 2: the closed form


def _closed_form_mistakes(ref, reward, beta) -> list[tuple[torch.Tensor, str, str]]:
    star = dm.optimal_policy(ref, reward, beta)
    return [
        (ref + reward / beta, "your table is log pi_ref + r/beta without the normaliser: it does not sum to 1 over "
         "the responses", "divide by Z(x), i.e. subtract log Z(x) = logsumexp over the responses (dim=-1)"),
        (torch.log_softmax(ref + reward * beta, -1), "you multiplied the reward by beta; the optimum tilts pi_ref "
         "by exp(r/beta): beta is the price of divergence, so a small beta lets the reward pull harder",
         "write the exponent as reward / beta"),
        (torch.log_softmax(ref + reward / beta, 0), "you normalised over the prompts; Z(x) sums over the responses y "
         "of one prompt x, so each row (prompt) must sum to 1", "normalise along the last dimension (dim=-1)"),
        (torch.log_softmax(reward / beta, -1), "pi_ref is missing: the optimum is the reference re-weighted by "
         "exp(r/beta), it keeps what pi_ref believes and only tilts it", "start from ref_logprobs + reward / beta"),
        (star.exp(), "you returned probabilities; the function should return log-probs (log pi*), like every "
         "table in this notebook", "return the log, e.g. torch.log_softmax(...) instead of softmax"),
        (torch.softmax(reward / beta, -1), "you returned probabilities, and pi_ref is missing from them",
         "return log-probs of pi_ref re-weighted by exp(r/beta)"),
    ]


def check_closed_form(fn: Callable) -> Verdict:
    """`fn(ref_logprobs, reward, beta)` against `dm.optimal_policy` on random tables."""
    ref, reward = _tables(seed=1)
    out, problem = _as_tensor(fn(ref.clone(), reward.clone(), CHECK_BETA), "the table of log pi*(y|x)")
    if problem:
        return problem
    expected = dm.optimal_policy(ref, reward, CHECK_BETA)
    if out.shape != expected.shape:
        return wrong(f"your table has shape {tuple(out.shape)}, expected {tuple(expected.shape)} (one log-prob per "
                     "prompt and response)", "keep the shape of ref_logprobs: no sum or mean over a dimension")
    if _close(out, expected):
        return right("matches dm.optimal_policy: pi_ref re-weighted by exp(r/beta), normalised "
                     "by Z(x) for each prompt")
    for candidate, why, hint in _closed_form_mistakes(ref, reward, CHECK_BETA):
        if _close(out, candidate):
            return wrong(why, hint)
    return wrong("your table differs from pi*(y|x) = pi_ref(y|x) exp(r(x,y)/beta) / Z(x) "
                 f"(largest difference {(out.double() - expected).abs().max().item():.3g})",
                 "in log space: log pi* = log pi_ref + r/beta - log Z(x); torch.log_softmax does the last step")


def reference_optimal_policy(ref_logprobs, reward, beta):
    return dm.optimal_policy(ref_logprobs, reward, beta)


def closed_form_exercise(fn, mode: str = "learner"):
    """Check `my_optimal_policy`; returns (the function to go on with, the verdict)."""
    return core.run_exercise("the closed form", fn, check_closed_form, reference_optimal_policy, mode)


# ----------------------------------------------------------------------------- section 3: what is identified

IDENTIFIED_CHOICES = {
    "a": "adding one constant to every reward",
    "b": "adding any constant c(x) per prompt",
    "c": "adding any constant c(y) per response",
    "d": "multiplying every reward by the same positive factor",
}
IDENTIFIED_WHY = {
    "a": "true, but not the whole freedom: any constant per prompt c(x) also cancels, because a preference only "
         "compares two answers to the same prompt",
    "c": "a constant per response changes the difference between two answers to one prompt, so it changes "
         "their preference probability and pi*",
    "d": "Bradley-Terry is not scale-free: sigma(2 (r_w - r_l)) is not sigma(r_w - r_l); the noise in the labels "
         "fixes the reward's scale",
}


def invariance_changes(toy: dm.Toy, beta: float, seed: int = 0) -> dict[str, float]:
    """Largest change in any Bradley-Terry probability when the toy's reward is changed each of the four ways."""
    g = torch.Generator().manual_seed(seed)
    n_prompts, n_responses = toy.shape
    r = toy.reward
    changed = {"a": r + 3.0, "b": r + 10 * torch.randn(n_prompts, 1, generator=g, dtype=r.dtype),
               "c": r + torch.randn(1, n_responses, generator=g, dtype=r.dtype), "d": 2.0 * r}

    def bt(reward):
        return torch.sigmoid(reward[:, :, None] - reward[:, None, :])

    return {k: (bt(v) - bt(r)).abs().max().item() for k, v in changed.items()}


def _letters(answer) -> str:
    return "".join(sorted(set(str(answer).lower().replace(",", " ").split()))) if isinstance(answer, str) else ""


def check_identified(answer, toy: dm.Toy, beta: float) -> Verdict:
    picked = _letters(answer)
    if not picked or any(p not in IDENTIFIED_CHOICES for p in picked):
        return wrong(f"{answer!r} is not one of the choices; answer with one letter, e.g. \"b\"",
                     ", ".join(f"{k}: {v}" for k, v in IDENTIFIED_CHOICES.items()))
    changes = invariance_changes(toy, beta)
    shown = ", ".join(f"{k}: {changes[k]:.2g}" if changes[k] > 1e-9 else f"{k}: 0" for k in IDENTIFIED_CHOICES)
    measured = f"on your toy, the largest change in a preference probability is {shown}"
    if picked == "b":
        return right(f"preferences identify the reward only up to a constant per prompt: beta log Z(x) cancels "
                     f"in every pair, and so does any c(x); {measured}")
    if len(picked) > 1:
        return wrong(f"pick the one largest freedom: {measured}", "which changes leave every difference "
                     "r(x, y_w) - r(x, y_l) between two answers to one prompt unchanged?")
    return wrong(f"{IDENTIFIED_WHY[picked]}. {measured}",
                 "a preference compares two answers to the same prompt: what can you add that always cancels?")


def identified_exercise(answer, toy: dm.Toy, beta: float, mode: str = "learner"):
    return core.run_exercise("what preferences identify", answer, lambda a: check_identified(a, toy, beta), "b",
                             mode)


# ----------------------------------------------------------------------------- section 4: the DPO loss


def reference_dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta):
    return dm.dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta)[0]


def _loss_inputs(seed: int = 3, n: int = 8):
    g = torch.Generator().manual_seed(seed)
    return [-20 + 3 * torch.randn(n, generator=g, dtype=torch.float64) for _ in range(4)]


def _loss_mistakes(pc, pr, rc, rr, beta) -> list[tuple[torch.Tensor, str, str]]:
    margin = (pc - rc) - (pr - rr)
    m = beta * margin
    flipped = ("the sign is flipped: the loss should fall as the chosen answer gets likelier (relative to the "
               "reference) and the rejected one less likely; yours rises", "margin = chosen log-ratio - rejected "
               "log-ratio, and the loss is -log sigma(beta * margin)")
    return [
        (-F.logsigmoid(-m), *flipped),
        (F.logsigmoid(m), "the minus sign is missing: log sigma(...) is the log-likelihood of the preference, "
         "which training maximises; the loss is its negative", "return -log sigma(beta * margin)"),
        (-F.logsigmoid(margin), "beta is missing: the implicit reward is beta * log pi/pi_ref, so beta scales the "
         "margin; without it the loss ignores how strongly the policy is anchored", "multiply the margin by beta"),
        (-F.logsigmoid(margin / beta), "you divided by beta: the implicit reward is beta * log pi/pi_ref (the "
         "closed form's r/beta, solved for r)", "multiply the margin by beta"),
        (-F.logsigmoid(beta * (pc - rc)), "you used the log-ratio of the chosen answer only: DPO's loss is "
         "Bradley-Terry on the difference of two implicit rewards, chosen minus rejected",
         "subtract the rejected answer's log-ratio (policy_rejected - ref_rejected)"),
        (-F.logsigmoid(-beta * (pr - rr)), "you used the log-ratio of the rejected answer only: DPO's loss is "
         "Bradley-Terry on the difference of two implicit rewards, chosen minus rejected",
         "add the chosen answer's log-ratio (policy_chosen - ref_chosen)"),
        (-F.logsigmoid(beta * (pc - pr)), "the reference is missing: the implicit reward is beta log pi/pi_ref, "
         "so the loss measures how far the policy moved from pi_ref, not the raw log-probs",
         "use (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)"),
        (torch.sigmoid(m), "you returned sigma(beta * margin), the probability that the chosen answer wins; the "
         "loss is its negative log, -log sigma, which is large for pairs ranked wrongly",
         "use -F.logsigmoid(...) (more stable than -torch.log(torch.sigmoid(...)))"),
        (torch.sigmoid(-m), "you returned sigma(-beta * margin), the probability that the rejected answer wins; "
         "the loss is -log sigma(beta * margin)", "use -F.logsigmoid(beta * margin)"),
    ]


def check_dpo_loss(fn: Callable) -> Verdict:
    """`fn(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta)` against `dm.dpo_loss` on random pairs,
    at pi_theta = pi_ref (ln 2), and its gradient (autograd through the learner's function)."""
    inputs = _loss_inputs()
    pc, pr, rc, rr = (t.clone().requires_grad_(True) for t in inputs)
    out, problem = _as_tensor(fn(pc, pr, rc, rr, CHECK_BETA), "one loss per pair")
    if problem:
        return problem
    expected = reference_dpo_loss(*inputs, CHECK_BETA)
    if out.dim() == 0 or out.shape != expected.shape:
        what = "a single number" if out.numel() == 1 else f"shape {tuple(out.shape)}"
        reduced = " (the mean over the pairs)" if out.numel() == 1 and abs(
            out.item() - expected.mean().item()) < TOLERANCE else ""
        return wrong(f"your function returned {what}{reduced}; return one loss per pair, shape "
                     f"{tuple(expected.shape)}: the trainer takes the mean, and per-pair losses let it weight or "
                     "mask pairs", "drop the .mean() / .sum()")
    with torch.no_grad():
        if not _close(out.detach(), expected):
            for candidate, why, hint in _loss_mistakes(*inputs, CHECK_BETA):
                if _close(out.detach(), candidate):
                    return wrong(why, hint)
            same = inputs[0].clone()
            at_ref = fn(same, same - 2, same.clone(), same - 2, CHECK_BETA)
            if isinstance(at_ref, torch.Tensor) and not torch.allclose(
                    at_ref.double(), torch.full_like(same, math.log(2)), atol=TOLERANCE):
                return wrong(f"where pi_theta = pi_ref your loss is {at_ref.flatten()[0].item():.4g}, not ln 2 = "
                             f"{math.log(2):.4g}: both implicit rewards are 0 there, so the loss is -log sigma(0)",
                             "the margin must be built from log-ratios policy - reference")
            return wrong("your losses differ from the DPO loss on random pairs (largest difference "
                         f"{(out.detach().double() - expected).abs().max().item():.3g})",
                         "loss = -log sigma(beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)))")
    if not out.requires_grad:
        return wrong("your losses are right, but not connected to the log-probs: autograd cannot train through "
                     "them (a .item(), .detach(), numpy or math call breaks the graph)",
                     "use torch operations on the input tensors all the way")
    grad_chosen, grad_rejected = torch.autograd.grad(out.sum(), [pc, pr], allow_unused=True)
    weight = CHECK_BETA * torch.sigmoid(-CHECK_BETA * ((inputs[0] - inputs[2]) - (inputs[1] - inputs[3])))
    if grad_chosen is None or grad_rejected is None or not (
            _close(-grad_chosen, weight) and _close(grad_rejected, weight)):
        return wrong("your losses are right, but their gradient is not the paper's beta * sigma(-margin) per pair "
                     "(part of the computation is detached from the log-probs)",
                     "use torch operations on the input tensors all the way")
    return right("matches dm.dpo_loss on random pairs, gives ln 2 where pi_theta = pi_ref, and its gradient on "
                 "each pair is beta * sigma(-margin): largest for the pairs the model still ranks wrongly")


def loss_exercise(fn, mode: str = "learner"):
    """Check `my_dpo_loss`; returns (the function to go on with, the verdict)."""
    return core.run_exercise("the DPO loss", fn, check_dpo_loss, reference_dpo_loss, mode)


# ----------------------------------------------------------------------------- section 6: predict the beta sweep

KL_CHOICES = {"a": "KL falls as beta grows", "b": "KL rises as beta grows", "c": "KL stays about the same"}
KL_WHY = {
    "b": "beta is the price of each nat of divergence from pi_ref: raising the price buys less divergence, not more",
    "c": "the optimum pi_ref exp(r/beta) / Z depends on beta: a large beta flattens the tilt towards pi_ref, a small "
         "one sharpens it",
}


def check_kl_prediction(answer, sweep) -> Verdict:
    """The prediction against the theory, explained with the learner's own sweep (a DataFrame with the columns
    `beta` and `KL(pi||pi_ref)`)."""
    picked = _letters(answer)
    if picked not in KL_CHOICES:
        return wrong(f"{answer!r} is not one of the choices; answer with one letter: "
                     + ", ".join(f"{k}: {v}" for k, v in KL_CHOICES.items()))
    first, last = sweep.iloc[0], sweep.iloc[-1]
    kl = "KL(pi||pi_ref)"
    seen = (f"your sweep: KL {first[kl]:.3g} nats at beta = {first['beta']:g}, {last[kl]:.3g} at beta = "
            f"{last['beta']:g}")
    if picked == "a":
        return right(f"beta prices each nat of divergence, so a larger beta keeps the policy nearer pi_ref; {seen}")
    return wrong(f"{KL_WHY[picked]}; {seen}", "in the objective E[r] - beta KL, what does a larger beta cost?")


def kl_prediction_exercise(answer, sweep, mode: str = "learner"):
    return core.run_exercise("KL against beta", answer, lambda a: check_kl_prediction(a, sweep), "a", mode)
