"""Batched generation: prompts sorted by length so batches carry few padding tokens, left padding, seeded.

One function serves greedy answers (evaluation) and sampled ones (preference pairs).
"""

from __future__ import annotations

import torch
from tqdm import tqdm  # text bars: readable in papermill logs and in JupyterLab alike

from helpers.task import format_prompt


def _length_order(tokenizer, prompts: list[str]) -> list[int]:
    """Prompt indices sorted by token length, so each batch pads little; refuses a right-padding tokenizer."""
    if tokenizer.padding_side != "left":
        raise ValueError("generation needs a left-padding tokenizer (helpers.models.prepare_tokenizer sets it)")
    lengths = [len(tokenizer(p, add_special_tokens=False).input_ids) for p in prompts]
    return sorted(range(len(prompts)), key=lambda i: lengths[i])


@torch.inference_mode()
def generate(model, tokenizer, prompts: list[str], max_new_tokens: int = 96, temperature: float = 0.0,
             top_p: float = 1.0, batch_size: int = 16, seed: int = 0, desc: str = "generating",
             progress: bool = True) -> list[str]:
    """Completions (new text only, special tokens stripped) for already-formatted prompts, in input order.

    temperature 0 is greedy decoding; >0 samples, seeded so a re-run gives the same text on the same machine.
    """
    if not prompts:
        return []
    order = _length_order(tokenizer, prompts)
    out: list[str | None] = [None] * len(prompts)
    dev = next(model.parameters()).device
    sampling = temperature > 0
    gen_kwargs = dict(max_new_tokens=max_new_tokens, do_sample=sampling, pad_token_id=tokenizer.pad_token_id)
    if sampling:
        gen_kwargs.update(temperature=temperature, top_p=top_p, top_k=0)
    else:
        gen_kwargs.update(temperature=None, top_p=None, top_k=None)
    torch.manual_seed(seed)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    for batch in tqdm(batches, desc=desc, disable=not progress, unit="batch"):
        enc = tokenizer([prompts[i] for i in batch], return_tensors="pt", padding=True,
                        add_special_tokens=False).to(dev)
        ids = model.generate(**enc, **gen_kwargs)
        new = ids[:, enc.input_ids.shape[1]:]
        for i, text in zip(batch, tokenizer.batch_decode(new, skip_special_tokens=True), strict=True):
            out[i] = text.strip()
    return out


def answer_reports(model, tokenizer, reports: list[str], **kwargs) -> list[str]:
    """The model's triage answers to incident reports (the task's chat prompt around each report)."""
    return generate(model, tokenizer, [format_prompt(tokenizer, r) for r in reports], **kwargs)


class _RowTemperature:
    """Logits processor: divides each row's logits by its own temperature, so one batch can hold samples drawn at
    several temperatures (the N answers of one prompt, each at its own temperature)."""

    def __init__(self, temperatures: torch.Tensor):
        self.temperatures = temperatures

    def __call__(self, input_ids, scores):
        return scores / self.temperatures.to(scores.device, scores.dtype)[:, None]


@torch.inference_mode()
def sample_n(model, tokenizer, prompts: list[str], temperatures: list[float], max_new_tokens: int = 96,
             batch_size: int = 32, seed: int = 0, shared_prefill: bool = True, desc: str = "sampling",
             progress: bool = True) -> list[list[str]]:
    """N = len(temperatures) sampled answers per prompt (answer k at temperatures[k]), in input order:
    out[i][k] is prompt i's answer at temperatures[k].

    With `shared_prefill` each prompt's KV cache is computed once and copied N times (DynamicCache's
    batch_repeat_interleave), instead of N prefills of the same ~150-token prompt; the N rows then decode together
    in one batch. `batch_size` counts sequences (prompts x N). Seeded: the same call gives the same text on the same
    machine. `shared_prefill=False` is the naive way (each prompt repeated N times), kept for measuring.
    """
    from transformers import DynamicCache, LogitsProcessorList

    n = len(temperatures)
    if n < 1 or any(t <= 0 for t in temperatures):
        raise ValueError(f"temperatures={temperatures!r}: need at least one, all > 0")
    if not prompts:
        return []
    order = _length_order(tokenizer, prompts)
    per_batch = max(1, batch_size // n)
    out: list[list[str] | None] = [None] * len(prompts)
    dev = next(model.parameters()).device
    torch.manual_seed(seed)
    batches = [order[i:i + per_batch] for i in range(0, len(order), per_batch)]
    for batch in tqdm(batches, desc=desc, disable=not progress, unit="batch"):
        enc = tokenizer([prompts[i] for i in batch], return_tensors="pt", padding=True,
                        add_special_tokens=False).to(dev)
        ids = enc.input_ids.repeat_interleave(n, 0)
        mask = enc.attention_mask.repeat_interleave(n, 0)
        kwargs = {}
        if shared_prefill and enc.input_ids.shape[1] > 1:
            cache = DynamicCache(config=model.config)
            head_mask = enc.attention_mask[:, :-1]
            positions = (head_mask.cumsum(-1) - 1).clamp(min=0)
            model(input_ids=enc.input_ids[:, :-1], attention_mask=head_mask, position_ids=positions,
                  past_key_values=cache, use_cache=True)
            cache.batch_repeat_interleave(n)
            kwargs["past_key_values"] = cache
        temps = torch.tensor(temperatures, dtype=torch.float32).repeat(len(batch))
        gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=True,
                             temperature=1.0, top_k=0, top_p=1.0, pad_token_id=tokenizer.pad_token_id,
                             logits_processor=LogitsProcessorList([_RowTemperature(temps)]), **kwargs)
        texts = tokenizer.batch_decode(gen[:, ids.shape[1]:], skip_special_tokens=True)
        for j, i in enumerate(batch):
            out[i] = [t.strip() for t in texts[j * n:(j + 1) * n]]
    return out
