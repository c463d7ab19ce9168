import torch

from helpers.generation import answer_reports, generate, sample_n
from helpers.task import format_prompt

REPORTS = ["checkout-api down", "[WARN] search-api error rate 2% for 10 minutes; client retries succeed.",
           "hey, avatar uploads on mobile-api fail for some users since 10:00 UTC, everything else works fine"]


def test_batched_greedy_equals_one_at_a_time(tiny):
    model, tokenizer = tiny
    prompts = [format_prompt(tokenizer, r) for r in REPORTS]
    batched = generate(model, tokenizer, prompts, max_new_tokens=12, batch_size=3, progress=False)
    single = [generate(model, tokenizer, [p], max_new_tokens=12, progress=False)[0] for p in prompts]
    assert batched == single  # left padding and the attention mask leave answers unchanged


def test_sampling_is_seeded_and_temperature_matters(tiny):
    model, tokenizer = tiny
    a = answer_reports(model, tokenizer, REPORTS, max_new_tokens=12, temperature=1.2, seed=3, progress=False)
    b = answer_reports(model, tokenizer, REPORTS, max_new_tokens=12, temperature=1.2, seed=3, progress=False)
    c = answer_reports(model, tokenizer, REPORTS, max_new_tokens=12, temperature=1.2, seed=4, progress=False)
    greedy = answer_reports(model, tokenizer, REPORTS, max_new_tokens=12, progress=False)
    assert a == b
    assert a != c and a != greedy


def test_right_padding_tokenizer_is_refused(tiny):
    import copy

    import pytest

    model, tokenizer = tiny
    right = copy.deepcopy(tokenizer)
    right.padding_side = "right"
    with pytest.raises(ValueError, match="left-padding"):
        generate(model, right, ["x"], progress=False)


def test_n_samples_share_one_prefill_with_the_same_answers_as_n_prefills(tiny):
    """The shared prefill (one KV cache per prompt, copied N times) changes the cost, not the answers: at a
    near-zero temperature both ways give the greedy answer, and at temperature 1 the same seed gives the same text."""
    model, tokenizer = tiny
    prompts = [format_prompt(tokenizer, r) for r in REPORTS]
    cold = [1e-6, 1e-6, 1e-6]
    shared = sample_n(model, tokenizer, prompts, cold, max_new_tokens=12, batch_size=9, progress=False)
    naive = sample_n(model, tokenizer, prompts, cold, max_new_tokens=12, batch_size=9, shared_prefill=False,
                     progress=False)
    greedy = generate(model, tokenizer, prompts, max_new_tokens=12, batch_size=3, progress=False)
    assert shared == naive == [[g] * 3 for g in greedy]
    hot = [0.7, 1.2, 1.0]
    a = sample_n(model, tokenizer, prompts, hot, max_new_tokens=12, batch_size=9, seed=5, progress=False)
    b = sample_n(model, tokenizer, prompts, hot, max_new_tokens=12, batch_size=9, seed=5, shared_prefill=False,
                 progress=False)
    c = sample_n(model, tokenizer, prompts, hot, max_new_tokens=12, batch_size=9, seed=6, progress=False)
    assert a == b and a != c
    assert all(len(answers) == 3 for answers in a) and len({x for answers in a for x in answers}) > 3


def test_bad_temperatures_are_named(tiny):
    import pytest

    model, tokenizer = tiny
    with pytest.raises(ValueError, match=r"temperatures=\[0.7, 0\]"):
        sample_n(model, tokenizer, ["x"], [0.7, 0], progress=False)


def test_the_shared_system_prompt_is_computed_once_and_changes_no_answer(tiny):
    """Prompts share the task's system prompt; generate() computes that prefix once per batch, pads each prompt's
    own tokens after it, and gives the same greedy answers as plain left padding."""
    from helpers.generation import _encode

    model, tokenizer = tiny
    prompts = [format_prompt(tokenizer, r) for r in REPORTS]
    ids, mask, prefix = _encode(tokenizer, prompts, share_prefix=True, dev="cpu")
    assert prefix > 100  # the system prompt
    assert (mask[:, :prefix] == 1).all() and (mask.sum(1) == torch.tensor(
        [len(tokenizer(p, add_special_tokens=False).input_ids) for p in prompts])).all()
    shared = generate(model, tokenizer, prompts, max_new_tokens=12, batch_size=3, progress=False)
    plain = generate(model, tokenizer, prompts, max_new_tokens=12, batch_size=3, progress=False, share_prefix=False)
    assert shared == plain


def test_row_sampler_draws_softmax_over_temperature_per_row():
    """RowSampler (inverse CDF, one uniform per row) draws from the same distribution as HF's multinomial
    sampling: softmax(logits / T) per row, never a token of probability 0, reproducible from its generator."""
    from helpers.generation import RowSampler

    logits = torch.tensor([[2.0, 1.0, 0.0, float("-inf")], [2.0, 1.0, 0.0, float("-inf")]])
    temps = torch.tensor([0.5, 2.0])
    draws = 40_000
    counts = torch.zeros(2, 4)
    sampler = RowSampler(temps.repeat(draws), torch.Generator().manual_seed(0))
    scores = sampler(None, logits.repeat(draws, 1))
    assert ((scores == 0).sum(1) == 1).all() and torch.isinf(scores).sum() == scores.numel() - 2 * draws
    picked = scores.argmax(1).view(draws, 2)
    for row in range(2):
        counts[row] = torch.bincount(picked[:, row], minlength=4).float()
    expected = torch.softmax(logits / temps[:, None], -1) * draws
    assert counts[:, 3].sum() == 0  # probability 0: never drawn
    # each count within 5 standard deviations of its expectation
    sd = (expected * (1 - expected / draws)).sqrt()
    assert ((counts[:, :3] - expected[:, :3]).abs() <= 5 * sd[:, :3] + 1).all(), (counts, expected)
    again = RowSampler(temps.repeat(draws), torch.Generator().manual_seed(0))(None, logits.repeat(draws, 1))
    assert torch.equal(scores, again)
