"""Batched generation: prompts sorted by length so batches carry few padding tokens, left padding, seeded.

One function serves greedy answers (evaluation) and sampled ones (preference pairs).
"""

from __future__ import annotations

import torch

from helpers.progress import tqdm  # widgets in Lab, text in papermill logs
from helpers.task import format_prompt


def _length_order(tokenizer, prompts: list[str]) -> list[int]:
    """Prompt indices sorted by token length, so each batch pads little; refuses a right-padding tokenizer."""
    if tokenizer.padding_side != "left":
        raise ValueError("generation needs a left-padding tokenizer (helpers.models.prepare_tokenizer sets it)")
    lengths = [len(tokenizer(p, add_special_tokens=False).input_ids) for p in prompts]
    return sorted(range(len(prompts)), key=lambda i: lengths[i])


def _common_prefix_len(rows: list[list[int]]) -> int:
    """Length of the token prefix every row shares, leaving each row at least one token of its own."""
    limit = min(len(r) for r in rows) - 1
    n = 0
    while n < limit and all(r[n] == rows[0][n] for r in rows):
        n += 1
    return n


def _encode(tokenizer, prompts: list[str], share_prefix: bool, dev):
    """(input_ids, attention_mask, prefix_len) for one batch.

    With `share_prefix`, the token prefix all prompts share (the task's system prompt: 122 of ~150 tokens) comes
    first and unpadded, and each prompt's own suffix is left-padded after it: [prefix][pads][suffix]. The prefix
    is then computed once per batch instead of once per row. Without it, plain left padding (prefix_len 0).
    """
    rows = [tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
    prefix = _common_prefix_len(rows) if share_prefix and len(rows) > 1 else 0
    width = max(len(r) for r in rows) - prefix
    pad = tokenizer.pad_token_id
    ids = [r[:prefix] + [pad] * (width - len(r) + prefix) + r[prefix:] for r in rows]
    mask = [[1] * prefix + [0] * (width - len(r) + prefix) + [1] * (len(r) - prefix) for r in rows]
    return torch.tensor(ids, device=dev), torch.tensor(mask, device=dev), prefix


def _prefill(model, ids: torch.Tensor, mask: torch.Tensor, prefix: int, repeats: int = 1):
    """A KV cache holding every prompt token but the last, for `model.generate(past_key_values=...)`.

    The shared `prefix` is computed for one row and copied to all; each row's suffix is then computed on top
    (positions counted over unmasked tokens, so the middle padding shifts nothing); finally each row is copied
    `repeats` times (N samples of one prompt share its whole prefill)."""
    from transformers import DynamicCache

    # The decoder alone fills the cache: no LM head, whose logits a prefill never needs (and whose transient
    # buffers grow the peak memory by the batch)
    body = model.get_decoder() if hasattr(model, "get_decoder") else model
    cache = DynamicCache(config=model.config)
    if prefix:
        body(input_ids=ids[:1, :prefix], position_ids=torch.arange(prefix, device=ids.device)[None],
             past_key_values=cache, use_cache=True)
        cache.batch_repeat_interleave(ids.shape[0])
    if ids.shape[1] - 1 > prefix:
        head = mask[:, :-1]
        positions = (head.cumsum(-1) - 1).clamp(min=0)[:, prefix:]
        body(input_ids=ids[:, prefix:-1], attention_mask=head, position_ids=positions, past_key_values=cache,
             use_cache=True)
    if repeats > 1:
        cache.batch_repeat_interleave(repeats)
    return cache


@torch.inference_mode()
def generate(model, tokenizer, prompts: list[str], max_new_tokens: int = 96, temperature: float = 0.0,
             batch_size: int = 16, seed: int = 0, desc: str = "generating",
             progress: bool = True, share_prefix: bool = True) -> list[str]:
    """Completions (new text only, special tokens stripped) for already-formatted prompts, in input order.

    temperature 0 is greedy decoding; >0 samples, seeded so a re-run gives the same text on the same machine.
    `share_prefix` computes the prompts' common token prefix (the system prompt) once per batch (see _prefill);
    False is the plain left-padded way, kept for measuring.
    """
    if not prompts:
        return []
    order = _length_order(tokenizer, prompts)
    out: list[str | None] = [None] * len(prompts)
    dev = next(model.parameters()).device
    sampling = temperature > 0
    gen_kwargs = dict(max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **GREEDY)
    generator = torch.Generator(device=dev).manual_seed(seed)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    for batch in tqdm(batches, desc=desc, disable=not progress, unit="batch"):
        ids, mask, prefix = _encode(tokenizer, [prompts[i] for i in batch], share_prefix, dev)
        cache = _prefill(model, ids, mask, prefix) if share_prefix else None
        if sampling:
            gen_kwargs.update(sampling_kwargs([temperature] * len(batch), generator))
        gen = model.generate(input_ids=ids, attention_mask=mask, past_key_values=cache, **gen_kwargs)
        texts = tokenizer.batch_decode(gen[:, ids.shape[1]:], skip_special_tokens=True)
        for i, text in zip(batch, texts, strict=True):
            out[i] = text.strip()
    return out


def answer_reports(model, tokenizer, reports: list[str], **kwargs) -> list[str]:
    """The model's triage answers to incident reports (the task's chat prompt around each report)."""
    return generate(model, tokenizer, [format_prompt(tokenizer, r) for r in reports], **kwargs)


# HF's greedy decoding, with the model's own sampling defaults cleared (RowSampler draws when sampling)
GREEDY = dict(do_sample=False, temperature=None, top_k=None, top_p=None)


class RowSampler:
    """Logits processor that draws each row's next token itself, at the row's own temperature, so one batch can
    hold the N answers of a prompt at N temperatures. It returns 0 at the drawn token and -inf elsewhere, for
    `generate(do_sample=False)`'s argmax to take.

    The draw is the same distribution as `generate(do_sample=True, top_k=0)` (softmax of logits / temperature),
    by inverse CDF: one uniform number per row and a cumulative sum, instead of torch.multinomial's exponential
    noise over the whole 49k vocabulary (on a CPU, most of a decoding step's time beside the model).
    `generator` makes the draws reproducible without touching torch's global RNG.
    """

    def __init__(self, temperatures: torch.Tensor, generator: torch.Generator):
        self.temperatures, self.generator = temperatures, generator

    def __call__(self, input_ids, scores):
        temps = self.temperatures.to(scores.device, torch.float32)[:, None]
        cdf = torch.softmax(scores.float() / temps, -1).cumsum_(-1)
        u = torch.rand(cdf.shape[0], 1, generator=self.generator, device=self.generator.device)
        # the first token whose cumulative probability exceeds u: a token of probability 0 is never drawn
        token = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp_(max=cdf.shape[1] - 1)
        return torch.full_like(scores, float("-inf")).scatter_(1, token, 0.0)


def sampling_kwargs(temperatures: list[float] | torch.Tensor, generator: torch.Generator) -> dict:
    """`model.generate` keyword arguments that sample row i at temperatures[i] (RowSampler), drawing from
    `generator` (one per call of `generate`/`sample_n`, seeded, its stream running across batches)."""
    from transformers import LogitsProcessorList

    temps = torch.as_tensor(temperatures, dtype=torch.float32)
    return dict(**GREEDY, logits_processor=LogitsProcessorList([RowSampler(temps, generator)]))


@torch.inference_mode()
def sample_n(model, tokenizer, prompts: list[str], temperatures: list[float], max_new_tokens: int = 96,
             batch_size: int = 32, seed: int = 0, shared_prefill: bool = True, desc: str = "sampling",
             progress: bool = True, on_batch=None) -> list[list[str]]:
    """N = len(temperatures) sampled answers per prompt (answer k at temperatures[k]), in input order:
    out[i][k] is prompt i's answer at temperatures[k].

    With `shared_prefill` the batch's shared system prompt is computed once, each prompt's own tokens once, and
    that cache copied N times (see _prefill), instead of N prefills of the same ~150-token prompt; the N rows
    then decode together in one batch. `batch_size` counts sequences (prompts x N). Seeded: the same call gives
    the same text on the same machine. `shared_prefill=False` is the naive way (each prompt repeated N times),
    kept for measuring. `on_batch(indices, answers)`, when given, is called after each batch with the prompts'
    indices and their N answers, so a caller can save work as it goes (a kill then loses one batch at most).
    """
    n = len(temperatures)
    if n < 1 or any(t <= 0 for t in temperatures):
        raise ValueError(f"temperatures={temperatures!r}: need at least one, all > 0")
    if not prompts:
        return []
    order = _length_order(tokenizer, prompts)
    per_batch = max(1, batch_size // n)
    out: list[list[str] | None] = [None] * len(prompts)
    dev = next(model.parameters()).device
    generator = torch.Generator(device=dev).manual_seed(seed)
    batches = [order[i:i + per_batch] for i in range(0, len(order), per_batch)]
    for batch in tqdm(batches, desc=desc, disable=not progress, unit="batch"):
        one, one_mask, prefix = _encode(tokenizer, [prompts[i] for i in batch], shared_prefill, dev)
        ids, mask = one.repeat_interleave(n, 0), one_mask.repeat_interleave(n, 0)
        kwargs = {"past_key_values": _prefill(model, one, one_mask, prefix, repeats=n)} if shared_prefill else {}
        gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                             pad_token_id=tokenizer.pad_token_id,
                             **sampling_kwargs(list(temperatures) * len(batch), generator), **kwargs)
        texts = tokenizer.batch_decode(gen[:, ids.shape[1]:], skip_special_tokens=True)
        for j, i in enumerate(batch):
            out[i] = [t.strip() for t in texts[j * n:(j + 1) * n]]
        if on_batch is not None:
            on_batch(list(batch), [out[i] for i in batch])
    return out
