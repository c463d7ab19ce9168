"""How sure a model is of the right severity: its probability of each severity when it writes one.

Severity match scores the greedy answer, so it only moves when the right severity becomes the model's top choice;
DPO moves probabilities, which can rise without changing the answer. Here every model is made to start its answer
`{"severity": "SEV`, and the next token's probabilities of 1, 2, 3 and 4 are read and renormalised over those four
(one forward pass per batch, no generation). The metric per report is the probability of the gold severity; Session C
tests it paired, like the others.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from helpers import task
from helpers.cache import cached_per_example, content_hash, model_key
from helpers.models import device, load_model, model_dtype, release_memory, resolve_model_path
from helpers.task import SEVERITIES, format_prompt, unique_ids

ANSWER_START = '{"severity": "SEV'  # how every answer in the task's format begins, up to the digit


@torch.inference_mode()
def severity_probabilities(model, tokenizer, reports: list[str], batch_size: int = 8) -> np.ndarray:
    """An array (reports x 4): P(SEV1), ..., P(SEV4) for each report, renormalised over the four severities, read
    after the answer's opening `{"severity": "SEV`. Batched by length (little padding) with left padding, in the
    model's own dtype; small batches by default, since larger ones raise peak memory for no real speed-up."""
    digits = [tokenizer.convert_tokens_to_ids(s.removeprefix("SEV")) for s in SEVERITIES]
    if tokenizer.unk_token_id is not None and tokenizer.unk_token_id in digits:
        raise ValueError(f"the tokenizer has no single token for each of the digits 1-4 ({digits}): the severity "
                         "probabilities need one")
    dev = next(model.parameters()).device
    texts = [format_prompt(tokenizer, r) + ANSWER_START for r in reports]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), len(SEVERITIES)))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        enc = tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False).to(dev)
        logits = model(**enc, logits_to_keep=1).logits[:, -1].float()
        out[idx] = torch.softmax(logits[:, digits], -1).cpu().numpy()
    return out


def cached_severity_probabilities(label: str, model_name: str, adapter, examples: list[dict],
                                  cache_dir: str | Path, batch_size: int = 8) -> np.ndarray:
    """`severity_probabilities` of one model, cached in cache_dir/<label>.severity.jsonl by content: the example's
    id and report text, the base model (its name and the digest of its config and tokenizer files), the adapter's
    weights (its digest, not its path: an adapter retrained into the same folder is computed again), the system
    prompt, the answer start, and dtype, device and batch size. Only missing or changed reports are computed."""
    unique_ids(examples, f"cached_severity_probabilities({label!r})")
    settings = model_key(model_name, resolve_model_path(str(model_name)), adapter, start=ANSWER_START,
                         batch_size=batch_size, dtype=str(model_dtype()).removeprefix("torch."), device=device().type,
                         prompt=content_hash(task.SYSTEM_PROMPT))

    def compute(todo: list[dict]) -> list[list[float]]:
        model, tokenizer = load_model(model_name, adapter=adapter)
        probs = severity_probabilities(model, tokenizer, [e["report"] for e in todo], batch_size=batch_size)
        del model
        release_memory()
        return [[float(x) for x in p] for p in probs]

    rows = cached_per_example(Path(cache_dir) / f"{label.replace('+', '_plus_')}.severity.jsonl", settings,
                              examples, compute, "probs", key=("id", "report"))
    return np.array(rows).reshape(len(examples), len(SEVERITIES))


def right_severity_probability(examples: list[dict], probs: np.ndarray) -> np.ndarray:
    """Per example, the probability the model gives its gold severity."""
    if len(probs) != len(examples):
        raise ValueError(f"{len(probs)} probability rows for {len(examples)} examples: one row per example")
    return np.array([p[SEVERITIES.index(e["severity"])] for e, p in zip(examples, probs, strict=True)])


def add_to_scores(scores, examples: list[dict], probs: dict[str, np.ndarray]):
    """`scores` (per_prompt_scores' table) with a `severity_prob` column: each model's probability of the gold
    severity on each prompt. Models without probabilities get NaN."""
    right = {label: dict(zip((e["id"] for e in examples), right_severity_probability(examples, p), strict=True))
             for label, p in probs.items()}
    scores = scores.copy()
    scores["severity_prob"] = [right.get(m, {}).get(i, np.nan) for m, i in zip(scores["model"], scores["id"],
                                                                               strict=True)]
    return scores
