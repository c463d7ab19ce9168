from helpers.generation import answer_reports, generate
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
