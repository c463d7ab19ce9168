"""Where a DPO model's reward margin comes from: the severity digit, or the rest of the answer.

DPO's implicit reward of an answer is beta * sum over its tokens of log pi_theta(token) - log pi_ref(token), so the
margin of a pair (chosen minus rejected) is a sum over tokens too, and it can be split by token. For a triage
answer the decision is one token, the digit after "SEV"; the rest (component, summary, punctuation) is 40-odd
tokens. When chosen and rejected differ everywhere, the trainer can widen the margin on any of them.
"""

from __future__ import annotations

import torch

from helpers.dpo_math import completion_token_ids
from helpers.models import release_memory
from helpers.packing import collate, mask_for, pack_two, unpack
from helpers.progress import tqdm
from helpers.training.monitor import policy_with_reference, ref_adapter
from helpers.training.sft import severity_positions


def _pair_logps(model, tokenizer, prompt: list[dict], chosen: list[dict], rejected: list[dict]) -> dict:
    """{"chosen": (token log-probs, severity-digit mask), "rejected": (...)}: each answer's tokens (split from the
    prompt the way TRL's DPOTrainer splits them) scored in one forward pass, the prompt computed once
    (helpers.packing)."""
    seqs, scored, targets = [], [], []
    for answer in (chosen, rejected):
        prompt_ids, answer_ids = completion_token_ids(tokenizer, prompt, answer)
        seqs.append(prompt_ids + answer_ids)
        scored.append([0] * len(prompt_ids) + [1] * len(answer_ids))
        targets.append(torch.tensor(answer_ids))
    packed = collate([pack_two(*seqs, *scored)], tokenizer.pad_token_id, max(map(len, seqs)))
    dev = next(model.parameters()).device
    mask = mask_for(model, packed["attention_mask"]).to(dev)
    logits = model(input_ids=packed["input_ids"].to(dev), attention_mask=mask,
                   position_ids=packed["position_ids"].to(dev)).logits.float()
    labels = packed["labels"].to(dev)
    token_logps = torch.log_softmax(logits, -1).gather(-1, labels.clamp(min=0)[..., None])[..., 0]
    per_side = unpack(token_logps, {k: v.to(dev) for k, v in packed.items() if k in ("index", "valid")})
    valid = packed["valid"]
    return {side: (per_side[i][valid[i].to(dev)], severity_positions(targets[i][None], tokenizer)[0].to(dev))
            for i, side in enumerate(("chosen", "rejected"))}


@torch.no_grad()
def margin_by_part(model, tokenizer, rows: list[dict], beta: float, ref_context=None):
    """One row per pair: the DPO reward margin (beta * log-ratio, chosen minus rejected) split into the part
    carried by the severity digit and the part carried by every other token. `model` is a PEFT model whose
    active adapter is the policy; `ref_context(model)` runs it as the reference (default: its "ref" adapter).
    A DataFrame with columns margin, severity digit, rest of the answer, severity share."""
    import pandas as pd

    ref_context = ref_context or ref_adapter
    was_training = model.training
    model.eval()
    out = []
    for row in tqdm(rows, desc="margin split", unit="pair"):
        policy = _pair_logps(model, tokenizer, row["prompt"], row["chosen"], row["rejected"])
        with ref_context(model):
            ref = _pair_logps(model, tokenizer, row["prompt"], row["chosen"], row["rejected"])
        parts = {}
        for side in ("chosen", "rejected"):
            (p, sev), (r, _) = policy[side], ref[side]
            ratio = beta * (p - r)
            parts[side] = (float(ratio[sev].sum()), float(ratio[~sev].sum()))
        digit = parts["chosen"][0] - parts["rejected"][0]
        rest = parts["chosen"][1] - parts["rejected"][1]
        out.append({"margin": digit + rest, "severity digit": digit, "rest of the answer": rest})
    if was_training:
        model.train()
    return pd.DataFrame(out, columns=["margin", "severity digit", "rest of the answer"])


def margin_summary(frame) -> dict:
    """The mean margin and how much of it the severity digit carries (its share of the summed absolute parts)."""
    if frame.empty:
        return {"pairs": 0}
    digit, rest = frame["severity digit"], frame["rest of the answer"]
    return {"pairs": len(frame), "mean margin": float(frame["margin"].mean()),
            "mean from the severity digit": float(digit.mean()), "mean from the rest": float(rest.mean()),
            "severity digit's share of |margin|": float(digit.abs().sum() / max((digit.abs() + rest.abs()).sum(),
                                                                                 1e-12))}


def adapter_margins(model_name: str, sft_adapter, dpo_adapter, rows: list[dict], beta: float):
    """`margin_by_part` for a trained DPO adapter against its SFT reference, on `rows` (e.g. the validation
    pairs); the model is loaded for this and released after."""
    model, tokenizer = policy_with_reference(model_name, sft_adapter, dpo_adapter)
    try:
        return margin_by_part(model, tokenizer, rows, beta)
    finally:
        del model
        release_memory()
