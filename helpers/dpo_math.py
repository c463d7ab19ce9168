"""The DPO loss, and a discrete toy world in which every step of the DPO derivation can be checked with numbers.

The toy: P prompts, each with K possible responses; a reference policy pi_ref(y|x) and a true reward r(x, y)
are tables. Everything the paper states about pi*, the implicit reward and the DPO loss can then be computed
exactly and compared with what optimisation finds. Session A (notebooks/01_dpo_math.ipynb) walks through it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from helpers import checks

# ----------------------------------------------------------------------------- the loss


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta: float):
    """Per-example DPO loss and the implicit rewards of the chosen and rejected responses.

    L = -log sigma(beta * [log pi(y_w)/pi_ref(y_w) - log pi(y_l)/pi_ref(y_l)])
    The log-probs are sequence log-probs (summed over the response's tokens), one per example.
    Returns (losses, chosen_rewards, rejected_rewards); the rewards are detached, as trainers log them."""
    tensors = [policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps]
    names = ["policy_chosen_logps", "policy_rejected_logps", "ref_chosen_logps", "ref_rejected_logps"]
    for name, t in zip(names, tensors, strict=True):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    shapes = {name: tuple(t.shape) for name, t in zip(names, tensors, strict=True)}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"log-prob tensors must all have the same shape (one value per example), got {shapes}")
    checks.positive("beta", beta)
    chosen_logratios = policy_chosen_logps - ref_chosen_logps
    rejected_logratios = policy_rejected_logps - ref_rejected_logps
    losses = -F.logsigmoid(beta * (chosen_logratios - rejected_logratios))
    return losses, beta * chosen_logratios.detach(), beta * rejected_logratios.detach()


def dpo_gradient_wrt_logits(logits, chosen, rejected, ref_logprobs, beta):
    """The paper's gradient of the DPO loss for a tabular (softmax) policy, written out by hand, to check autograd:
    grad = -beta * sigma(r_l - r_w) * (grad log pi(y_w) - grad log pi(y_l)),  grad log pi(y) = onehot(y) - pi.
    `logits` [K], `chosen`/`rejected` indices, `ref_logprobs` [K]."""
    logp = torch.log_softmax(logits, -1)
    probs = logp.exp()
    r_w = beta * (logp[chosen] - ref_logprobs[chosen])
    r_l = beta * (logp[rejected] - ref_logprobs[rejected])
    grad_log_w, grad_log_l = F.one_hot(torch.tensor([chosen, rejected]), logits.numel()).to(logits) - probs
    return -beta * torch.sigmoid(r_l - r_w) * (grad_log_w - grad_log_l)


# ----------------------------------------------------------------------------- the toy world


def pin_threads(n: int = 1) -> int:
    """Use `n` torch threads; returns the previous count. Session A's tensors are tiny, so more threads buy nothing
    and, on a busy machine, fight the other jobs for the cores."""
    checks.count("threads", n)
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    return before


@dataclass
class Toy:
    """P prompts x K responses: reference log-probs [P, K] and true rewards [P, K] (float64)."""

    ref_logprobs: torch.Tensor
    reward: torch.Tensor

    @property
    def shape(self):
        return tuple(self.reward.shape)


def make_toy(n_prompts: int = 4, n_responses: int = 6, reward_scale: float = 1.5, seed: int = 0) -> Toy:
    """A random toy world. At least one prompt and two responses: a preference needs two answers to compare."""
    checks.count("n_prompts", n_prompts)
    checks.count("n_responses", n_responses, minimum=2)
    checks.number("reward_scale", reward_scale, minimum=0)
    checks.integer("seed", seed)
    g = torch.Generator().manual_seed(seed)
    ref_logits = torch.randn(n_prompts, n_responses, generator=g, dtype=torch.float64)
    reward = reward_scale * torch.randn(n_prompts, n_responses, generator=g, dtype=torch.float64)
    return Toy(torch.log_softmax(ref_logits, -1), reward)


def _check_tables(ref_logprobs, reward=None):
    """[n_prompts, n_responses] tables, at least 1 x 2 and of one shape: an empty one fails deep inside an optimiser."""
    tables = {"ref_logprobs": ref_logprobs} if reward is None else {"ref_logprobs": ref_logprobs, "reward": reward}
    for name, table in tables.items():
        if not isinstance(table, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(table).__name__}")
        if table.dim() != 2 or table.shape[0] < 1 or table.shape[1] < 2:
            raise checks.ParameterError(f"{name} must be an [n_prompts, n_responses] table with n_prompts >= 1 and "
                                        f"n_responses >= 2, got shape {tuple(table.shape)}")
    if reward is not None and ref_logprobs.shape != reward.shape:
        raise checks.ParameterError(f"ref_logprobs and reward must have the same shape, got "
                                    f"{tuple(ref_logprobs.shape)} and {tuple(reward.shape)}")


def _check_pairs(pairs, shape):
    """At least one pair, and every index inside the [n_prompts, n_responses] table."""
    if len(pairs) < 1:
        raise checks.ParameterError("pairs must hold at least one preference pair, got 0")
    n_prompts, k = shape
    if int(pairs.prompt.max()) >= n_prompts or int(max(pairs.chosen.max(), pairs.rejected.max())) >= k:
        raise checks.ParameterError(f"pairs index a prompt or response outside the {n_prompts} x {k} table")


def optimal_policy(ref_logprobs, reward, beta: float):
    """Closed form of the KL-regularised optimum: pi*(y|x) = pi_ref(y|x) exp(r(x,y)/beta) / Z(x). Log-probs."""
    checks.positive("beta", beta)
    return torch.log_softmax(ref_logprobs + reward / beta, -1)


def log_partition(ref_logprobs, reward, beta: float):
    """log Z(x) = log sum_y pi_ref(y|x) exp(r(x,y)/beta), one per prompt."""
    checks.positive("beta", beta)
    return torch.logsumexp(ref_logprobs + reward / beta, -1)


def kl(logp, ref_logprobs):
    """KL(pi || pi_ref) per prompt, from log-prob tables."""
    return (logp.exp() * (logp - ref_logprobs)).sum(-1)


def rlhf_objective(logp, ref_logprobs, reward, beta: float):
    """The RLHF objective E_pi[r] - beta KL(pi || pi_ref), averaged over prompts."""
    return ((logp.exp() * reward).sum(-1) - beta * kl(logp, ref_logprobs)).mean()


def maximise_rlhf_objective(ref_logprobs, reward, beta: float, max_iter: int = 500):
    """Maximise the RLHF objective directly over the policy's logits (L-BFGS), knowing nothing of the closed form."""
    checks.positive("beta", beta)
    _check_tables(ref_logprobs, reward)
    checks.count("max_iter", max_iter)
    logits = torch.zeros_like(reward, requires_grad=True)
    opt = torch.optim.LBFGS([logits], lr=1, max_iter=max_iter, tolerance_grad=1e-12, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = -rlhf_objective(torch.log_softmax(logits, -1), ref_logprobs, reward, beta)
        loss.backward()
        return loss

    opt.step(closure)
    return torch.log_softmax(logits.detach(), -1)


def implicit_reward(logp, ref_logprobs, beta: float):
    """r_hat(x, y) = beta log pi(y|x)/pi_ref(y|x): the reward a policy implies (up to beta log Z(x))."""
    return beta * (logp - ref_logprobs)


def center(table):
    """Subtract each prompt's mean: rewards are only identified up to a per-prompt constant."""
    return table - table.mean(-1, keepdim=True)


def correlation(a, b) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


# ----------------------------------------------------------------------------- preference data and training


@dataclass
class Pairs:
    """Preference pairs on the toy: prompt index, winner index, loser index (long tensors of equal length)."""

    prompt: torch.Tensor
    chosen: torch.Tensor
    rejected: torch.Tensor

    def __len__(self):
        return len(self.prompt)


def sample_pairs(toy: Toy, n_pairs: int, seed: int = 0) -> Pairs:
    """Pairs labelled by the Bradley-Terry model: P(y1 > y2 | x) = sigma(r(x,y1) - r(x,y2))."""
    checks.count("n_pairs", n_pairs)
    checks.integer("seed", seed)
    _check_tables(toy.ref_logprobs, toy.reward)
    g = torch.Generator().manual_seed(seed)
    n_prompts, k = toy.shape
    prompt = torch.randint(n_prompts, (n_pairs,), generator=g)
    y1 = torch.randint(k, (n_pairs,), generator=g)
    y2 = (y1 + torch.randint(1, k, (n_pairs,), generator=g)) % k  # a different response
    p_first = torch.sigmoid(toy.reward[prompt, y1] - toy.reward[prompt, y2])
    first_wins = torch.rand(n_pairs, generator=g, dtype=torch.float64) < p_first
    return Pairs(prompt, torch.where(first_wins, y1, y2), torch.where(first_wins, y2, y1))


def train_tabular_dpo(ref_logprobs, pairs: Pairs, beta: float, steps: int = 1500, lr: float = 0.05):
    """Train a tabular policy (logits initialised at pi_ref) with `dpo_loss`, full batch, Adam; returns (policy
    log-probs [P, K], loss history)."""
    checks.positive("beta", beta)
    checks.count("steps", steps)
    checks.positive("lr", lr)
    _check_tables(ref_logprobs)
    _check_pairs(pairs, tuple(ref_logprobs.shape))
    logits = ref_logprobs.clone().requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=lr)
    history = []
    for _ in range(steps):
        logp = torch.log_softmax(logits, -1)
        losses, _, _ = dpo_loss(logp[pairs.prompt, pairs.chosen], logp[pairs.prompt, pairs.rejected],
                                ref_logprobs[pairs.prompt, pairs.chosen], ref_logprobs[pairs.prompt, pairs.rejected],
                                beta)
        loss = losses.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    return torch.log_softmax(logits.detach(), -1), history


def fit_reward_model(shape, pairs: Pairs, steps: int = 1500, lr: float = 0.05):
    """Step 1 of classic RLHF: a Bradley-Terry reward model (a table here) fit by maximum likelihood on the pairs."""
    checks.count("steps", steps)
    checks.positive("lr", lr)
    _check_pairs(pairs, tuple(shape))
    reward = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([reward], lr=lr)
    for _ in range(steps):
        loss = -F.logsigmoid(reward[pairs.prompt, pairs.chosen] - reward[pairs.prompt, pairs.rejected]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return reward.detach()


def policy_gradient_rlhf(ref_logprobs, reward_model, beta: float, steps: int = 800, samples: int = 256,
                         lr: float = 0.05, seed: int = 0):
    """Step 2 of classic RLHF: REINFORCE against the learned reward with a KL penalty (the PPO stage, without
    clipping): sample responses from the policy, score r_phi(y) - beta log(pi/pi_ref)(y), subtract a per-prompt
    baseline, ascend. Returns (policy log-probs, number of sampled responses)."""
    checks.positive("beta", beta)
    checks.count("steps", steps)
    checks.count("samples", samples)
    checks.positive("lr", lr)
    _check_tables(ref_logprobs, reward_model)
    g = torch.Generator().manual_seed(seed)
    logits = ref_logprobs.clone().requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=lr)
    n_prompts = ref_logprobs.shape[0]
    rows = torch.arange(n_prompts).unsqueeze(1)
    for _ in range(steps):
        logp = torch.log_softmax(logits, -1)
        ys = torch.multinomial(logp.detach().exp(), samples, replacement=True, generator=g)  # [P, samples]
        logp_y = logp[rows, ys]
        score = reward_model[rows, ys] - beta * (logp_y.detach() - ref_logprobs[rows, ys])
        advantage = score - score.mean(-1, keepdim=True)
        loss = -(advantage * logp_y).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return torch.log_softmax(logits.detach(), -1), steps * samples * n_prompts


def total_variation(logp, logq):
    """Largest per-prompt total-variation distance between two policies (0 = identical)."""
    return float((0.5 * (logp.exp() - logq.exp()).abs().sum(-1)).max())


def beta_sweep(toy: Toy, pairs: Pairs, betas, steps: int = 1500, lr: float = 0.05):
    """Train tabular DPO once per beta; a DataFrame of KL to the reference, true-reward gain and peakiness."""
    import pandas as pd

    checks.positives("betas", betas)
    checks.count("steps", steps)
    checks.positive("lr", lr)
    ref_reward = (toy.ref_logprobs.exp() * toy.reward).sum(-1).mean()
    rows = []
    for beta in betas:
        logp, _ = train_tabular_dpo(toy.ref_logprobs, pairs, beta, steps=steps, lr=lr)
        rows.append({"beta": beta, "KL(pi||pi_ref)": float(kl(logp, toy.ref_logprobs).mean()),
                     "true reward gain": float((logp.exp() * toy.reward).sum(-1).mean() - ref_reward),
                     "max prob": float(logp.exp().max(-1).values.mean())})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- the same loss on a language model


def completion_token_ids(tokenizer, prompt_messages: list[dict], completion_messages: list[dict]):
    """(prompt ids, completion ids) of a conversational example, split where prompt and prompt+completion
    tokenisations diverge, the way TRL's DPOTrainer splits them."""
    prompt_ids = tokenizer.apply_chat_template(prompt_messages, add_generation_prompt=True, tokenize=True,
                                               return_dict=True)["input_ids"]
    full_ids = tokenizer.apply_chat_template(prompt_messages + completion_messages, tokenize=True,
                                             return_dict=True)["input_ids"]
    n = 0
    while n < min(len(prompt_ids), len(full_ids)) and prompt_ids[n] == full_ids[n]:
        n += 1
    return list(full_ids[:n]), list(full_ids[n:])


def completion_token_logps(model, tokenizer, prompt_messages: list[dict], completion_messages: list[dict]):
    """(log-prob of each completion token under `model`, the completion's token ids), one sequence."""
    prompt_ids, completion_ids = completion_token_ids(tokenizer, prompt_messages, completion_messages)
    dev = next(model.parameters()).device
    ids = torch.tensor([prompt_ids + completion_ids], device=dev)
    target = ids[0, len(prompt_ids):]
    # the LM head over the completion's positions only: the prompt's logits (49k-wide each) would be thrown away
    logits = model(input_ids=ids, logits_to_keep=len(completion_ids) + 1).logits[0, :-1].float()
    return torch.log_softmax(logits, -1).gather(-1, target[:, None])[:, 0], target


def sequence_logps(model, tokenizer, prompt_messages: list[dict], completion_messages: list[dict]):
    """log pi(completion | prompt): the sum of the completion tokens' log-probs under `model` (one sequence)."""
    return completion_token_logps(model, tokenizer, prompt_messages, completion_messages)[0].sum()


# ----------------------------------------------------------------------------- the notebook's checks, packaged


def perturbation_gaps(logp, ref_logprobs, reward, beta: float, n: int = 1000, scale: float = 0.3, seed: int = 0):
    """Objective of n random perturbations of a policy's logits minus the policy's own objective (per prompt
    perturbed independently). All negative means no nearby policy scores higher."""
    checks.positive("beta", beta)
    checks.count("n", n)
    checks.positive("scale", scale)
    _check_tables(ref_logprobs, reward)
    g = torch.Generator().manual_seed(seed)
    base = rlhf_objective(logp, ref_logprobs, reward, beta)
    noise = scale * torch.randn((n, *logp.shape), generator=g, dtype=logp.dtype)
    perturbed = torch.log_softmax(logp.unsqueeze(0) + noise, -1)
    values = ((perturbed.exp() * reward).sum(-1) - beta * (perturbed.exp() * (perturbed - ref_logprobs)).sum(-1))
    return values.mean(-1) - base


def gradient_check(n_responses: int = 6, beta: float = 0.5, seed: int = 0):
    """(autograd gradient, hand-written formula) of the DPO loss w.r.t. a random tabular policy's logits, on the
    pair of responses 1 and 4 (0 and the last when there are fewer than 5): any n_responses >= 2 works."""
    checks.count("n_responses", n_responses, minimum=2)
    checks.positive("beta", beta)
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n_responses, generator=g, dtype=torch.float64, requires_grad=True)
    ref = torch.log_softmax(torch.randn(n_responses, generator=g, dtype=torch.float64), -1)
    chosen, rejected = (1, 4) if n_responses >= 5 else (0, n_responses - 1)
    logp = torch.log_softmax(logits, -1)
    loss, _, _ = dpo_loss(logp[chosen:chosen + 1], logp[rejected:rejected + 1], ref[chosen:chosen + 1],
                          ref[rejected:rejected + 1], beta)
    (autograd,) = torch.autograd.grad(loss.sum(), logits)
    return autograd, dpo_gradient_wrt_logits(logits.detach(), chosen, rejected, ref, beta)


def reward_recovery(toy: Toy, pair_counts, beta: float, steps: int = 1500, seed: int = 0):
    """Train tabular DPO on more and more Bradley-Terry pairs; how well the implicit reward matches the true one
    (correlation after removing per-prompt constants) and how close the policy gets to pi*."""
    import pandas as pd

    checks.counts("pair_counts", pair_counts)  # all of them before the first training, not after minutes of it
    checks.count("steps", steps)
    star = optimal_policy(toy.ref_logprobs, toy.reward, beta)
    rows, learned = [], {}
    for n in pair_counts:
        logp, history = train_tabular_dpo(toy.ref_logprobs, sample_pairs(toy, n, seed=seed), beta, steps=steps)
        learned[n] = r_hat = implicit_reward(logp, toy.ref_logprobs, beta)
        rows.append({"pairs": n, "reward correlation": correlation(center(r_hat), center(toy.reward)),
                     "TV(pi_theta, pi*)": total_variation(logp, star), "KL(pi*||pi_theta)": float(kl(star, logp).max()),
                     "final loss": history[-1]})
    return pd.DataFrame(rows), learned


def dpo_vs_rlhf(toy: Toy, pairs: Pairs, beta: float, dpo_steps: int = 1500, rm_steps: int = 1500,
                pg_steps: int = 800, pg_samples: int = 256, seed: int = 0):
    """Both pipelines on the same pairs: DPO (one model) and reward model + policy gradient (two models).
    Returns (dict of the two policies and the reward model, DataFrame of what each needed and where it ended)."""
    import pandas as pd

    checks.positive("beta", beta)
    for name, value in (("dpo_steps", dpo_steps), ("rm_steps", rm_steps), ("pg_steps", pg_steps),
                        ("pg_samples", pg_samples)):
        checks.count(name, value)
    t0 = time.perf_counter()
    dpo_logp, _ = train_tabular_dpo(toy.ref_logprobs, pairs, beta, steps=dpo_steps)
    dpo_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    reward_model = fit_reward_model(toy.shape, pairs, steps=rm_steps)
    rlhf_logp, n_samples = policy_gradient_rlhf(toy.ref_logprobs, reward_model, beta, steps=pg_steps,
                                                samples=pg_samples, seed=seed)
    rlhf_s = time.perf_counter() - t0
    star = optimal_policy(toy.ref_logprobs, toy.reward, beta)
    table = pd.DataFrame([
        {"pipeline": "DPO", "models trained": 1, "hyperparameters": "beta, lr, steps",
         "optimisation steps": dpo_steps, "responses sampled during training": 0,
         "TV to pi* (true reward)": total_variation(dpo_logp, star), "seconds": dpo_s},
        {"pipeline": "RLHF (reward model + policy gradient)", "models trained": 2,
         "hyperparameters": "beta, RM lr, RM steps, PG lr, PG steps, samples per step, baseline",
         "optimisation steps": rm_steps + pg_steps, "responses sampled during training": n_samples,
         "TV to pi* (true reward)": total_variation(rlhf_logp, star), "seconds": rlhf_s},
    ]).set_index("pipeline")
    return {"dpo": dpo_logp, "rlhf": rlhf_logp, "reward_model": reward_model}, table
