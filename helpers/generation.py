"""Batched generation: prompts sorted by length so batches carry few padding tokens, left padding, seeded.

One function serves greedy answers (evaluation) and sampled ones (preference pairs).
"""

from __future__ import annotations

import torch
from tqdm import tqdm  # text bars: readable in papermill logs and in JupyterLab alike

from helpers.task import format_prompt


@torch.inference_mode()
def generate(model, tokenizer, prompts: list[str], max_new_tokens: int = 96, temperature: float = 0.0,
             top_p: float = 1.0, batch_size: int = 16, seed: int = 0, desc: str = "generating",
             progress: bool = True) -> list[str]:
    """Completions (new text only, special tokens stripped) for already-formatted prompts, in input order.

    temperature 0 is greedy decoding; >0 samples, seeded so a re-run gives the same text on the same machine.
    """
    if not prompts:
        return []
    if tokenizer.padding_side != "left":
        raise ValueError("generation needs a left-padding tokenizer (helpers.models.prepare_tokenizer sets it)")
    lengths = [len(tokenizer(p, add_special_tokens=False).input_ids) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: lengths[i])
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
