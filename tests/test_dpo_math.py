import math

import pytest
import torch

from helpers import dpo_math as dm


def t(*xs):
    return torch.tensor(xs, dtype=torch.float64)


def test_loss_is_ln2_at_the_reference():
    x = t(-12.0, -3.5, -40.0)
    losses, rw, rl = dm.dpo_loss(x, x - 1, x, x - 1, beta=0.1)
    assert torch.allclose(losses, torch.full_like(losses, math.log(2)))
    assert torch.equal(rw, torch.zeros(3, dtype=torch.float64)) and torch.equal(rl, torch.zeros(3, dtype=torch.float64))


def test_loss_and_rewards_on_a_known_case():
    # chosen log-ratio +1, rejected log-ratio -1, beta 0.5: margin 1 -> loss -log sigma(1)
    losses, rw, rl = dm.dpo_loss(t(-9.0), t(-11.0), t(-10.0), t(-10.0), beta=0.5)
    assert losses.item() == pytest.approx(-math.log(1 / (1 + math.exp(-1))))
    assert (rw.item(), rl.item()) == (0.5, -0.5)
    # preferring the rejected response costs more than ln 2
    worse, _, _ = dm.dpo_loss(t(-11.0), t(-9.0), t(-10.0), t(-10.0), beta=0.5)
    assert worse.item() > math.log(2) > losses.item()


def test_bad_input_is_refused_clearly():
    x = t(1.0, 2.0)
    with pytest.raises(ValueError, match="same shape"):
        dm.dpo_loss(x, x, x, t(1.0), beta=0.1)
    for beta in (0, -0.1, float("nan"), "0.1"):
        with pytest.raises(ValueError, match="beta must be a positive number"):
            dm.dpo_loss(x, x, x, x, beta=beta)
    with pytest.raises(TypeError, match="torch.Tensor"):
        dm.dpo_loss([1.0], x, x, x, beta=0.1)
    with pytest.raises(ValueError, match="beta"):
        dm.optimal_policy(x, x, beta=0)


def test_gradient_matches_the_papers_formula():
    for seed in range(5):
        autograd, formula = dm.gradient_check(n_responses=7, beta=0.3, seed=seed)
        torch.testing.assert_close(autograd, formula, atol=1e-12, rtol=0)


def test_closed_form_is_the_maximiser():
    toy = dm.make_toy(5, 7, seed=3)
    for beta in (0.1, 0.5, 2.0):
        star = dm.optimal_policy(toy.ref_logprobs, toy.reward, beta)
        found = dm.maximise_rlhf_objective(toy.ref_logprobs, toy.reward, beta)
        assert (star.exp() - found.exp()).abs().max() < 1e-4
        assert (dm.perturbation_gaps(star, toy.ref_logprobs, toy.reward, beta, n=200) < 0).all()


def test_partition_function_cancels_and_shifts_are_invisible():
    toy = dm.make_toy(seed=1)
    beta = 0.7
    star = dm.optimal_policy(toy.ref_logprobs, toy.reward, beta)
    r_hat = dm.implicit_reward(star, toy.ref_logprobs, beta)
    log_z = dm.log_partition(toy.ref_logprobs, toy.reward, beta)
    torch.testing.assert_close(r_hat + beta * log_z[:, None], toy.reward)
    shifted = dm.optimal_policy(toy.ref_logprobs, toy.reward + t(1.0, -5.0, 30.0, 2.0)[:, None], beta)
    torch.testing.assert_close(shifted, star)


def test_pairs_follow_bradley_terry():
    toy = dm.Toy(torch.log_softmax(torch.zeros(1, 2, dtype=torch.float64), -1), t(1.0, 0.0)[None])
    pairs = dm.sample_pairs(toy, 20000, seed=0)
    p_first_wins = (pairs.chosen == 0).double().mean().item()
    assert p_first_wins == pytest.approx(1 / (1 + math.exp(-1)), abs=0.015)
    assert (pairs.chosen != pairs.rejected).all()


def test_dpo_recovers_the_reward_and_the_optimal_policy():
    toy = dm.make_toy(seed=0)
    table, _ = dm.reward_recovery(toy, [100, 4000], beta=0.5, seed=0)
    assert table["reward correlation"].iloc[-1] >= 0.95
    assert table["TV(pi_theta, pi*)"].iloc[-1] < table["TV(pi_theta, pi*)"].iloc[0]


def test_dpo_and_rlhf_reach_the_same_policy():
    toy = dm.make_toy(seed=2)
    pairs = dm.sample_pairs(toy, 2000, seed=1)
    policies, table = dm.dpo_vs_rlhf(toy, pairs, beta=0.5, seed=0)
    assert dm.total_variation(policies["dpo"], policies["rlhf"]) < 0.02
    assert table.loc["DPO", "models trained"] == 1 and table.iloc[1]["models trained"] == 2


def test_beta_controls_drift():
    toy = dm.make_toy(seed=0)
    sweep = dm.beta_sweep(toy, dm.sample_pairs(toy, 300, seed=0), [0.03, 0.3, 3.0, 30.0], steps=800)
    kl_values = sweep["KL(pi||pi_ref)"].tolist()
    assert kl_values == sorted(kl_values, reverse=True)
    assert kl_values[-1] < 0.01 and kl_values[0] > 1


def test_sequence_logps_sums_completion_tokens_only(tiny):
    model, tokenizer = tiny
    prompt = [{"role": "user", "content": "checkout-api down"}]
    completion = [{"role": "assistant", "content": "SEV1"}]
    p_ids, c_ids = dm.completion_token_ids(tokenizer, prompt, completion)
    assert tokenizer.decode(c_ids).startswith("SEV1")
    ids = torch.tensor([p_ids + c_ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0], -1)
        manual = sum(logp[len(p_ids) + i - 1, tok].item() for i, tok in enumerate(c_ids))
        assert dm.sequence_logps(model, tokenizer, prompt, completion).item() == pytest.approx(manual, abs=1e-5)


def test_our_loss_equals_trls_dpo_trainer(tmp_path):
    from helpers.models import tiny_model
    from helpers.training import trl_dpo_loss  # TRL's side of the check lives with the DPO trainer code

    policy, tokenizer = tiny_model(seed=10)
    ref, _ = tiny_model(seed=11)
    triples = [{"prompt": [{"role": "user", "content": f"incident {i}: search-api slow in eu-west-1"}],
                "chosen": [{"role": "assistant", "content": '{"severity": "SEV2", "component": "search-api"}'}],
                "rejected": [{"role": "assistant", "content": "all good " * (i + 1)}]} for i in range(4)]
    trl_loss = trl_dpo_loss(policy, ref, tokenizer, triples, beta=0.2, output_dir=str(tmp_path))
    with torch.no_grad():
        lp = {(n, k): torch.stack([dm.sequence_logps(m, tokenizer, x["prompt"], x[k]) for x in triples])
              for n, m in (("pi", policy), ("ref", ref)) for k in ("chosen", "rejected")}
    ours, _, _ = dm.dpo_loss(lp["pi", "chosen"], lp["pi", "rejected"], lp["ref", "chosen"], lp["ref", "rejected"], 0.2)
    assert abs(ours.mean().item() - trl_loss) < 1e-5
    assert abs(trl_loss - math.log(2)) > 1e-3  # policy != reference, so this is not the trivial ln 2


def test_pin_threads_sets_the_count_and_rejects_a_bad_one():
    import torch

    from helpers import checks

    before = dm.pin_threads(1)
    try:
        assert torch.get_num_threads() == 1
        with pytest.raises(checks.ParameterError, match="threads must be an integer >= 1, got 0"):
            dm.pin_threads(0)
    finally:
        torch.set_num_threads(before)
