"""Does bf16 autocast change the DPO numbers by rounding only? fp32 and autocast side by side, token by token.

The test in tests/test_precision.py and `make bench` use it. Bounds that follow from bf16 rather than from one CPU:
- bf16 keeps 8 significant bits, a unit roundoff u = 2^-8. A logit z is a matmul output, so rounding its inputs
  moves it by about u·|z|, and a token's log-prob z_y − logsumexp(z), a difference of logits, by up to about
  a = u·max|z|. Rounding errors spread evenly over [−a, a] have a root-mean-square of a/√3: the bound on the
  RMS over all completion tokens (`token_bound`). fp16 (u = 2^-11) gives 8x smaller errors on the same model,
  as rounding should.
- The DPO loss −log σ(β·m) has |dL/dm| = β·σ(−β·m) ≤ β, so the loss moves by at most β·|Δm|, where Δm is the
  change of the margin m = (π_c − ref_c) − (π_r − ref_r) that the measured sequence log-probs give.
"""

from __future__ import annotations

import contextlib

import torch

from helpers.dpo_math import completion_token_logps, dpo_loss

UNIT_ROUNDOFF = {torch.bfloat16: 2.0 ** -8, torch.float16: 2.0 ** -11}


def _token_logps(policy, tokenizer, triples: list[dict]) -> tuple[list[torch.Tensor], float]:
    """Per-token log-probs of every (triple, chosen/rejected, policy/reference) sequence, in that order, and the
    largest |logit| met. The reference is the policy with its adapter disabled."""
    seqs, zmax = [], 0.0
    head = policy.get_output_embeddings()

    def track(_module, _inputs, out):
        nonlocal zmax
        zmax = max(zmax, float(out.detach().float().abs().max()))

    handle = head.register_forward_hook(track)
    try:
        with torch.no_grad():
            for t in triples:
                for key in ("chosen", "rejected"):
                    seqs.append(completion_token_logps(policy, tokenizer, t["prompt"], t[key])[0].double())
                    with policy.disable_adapter():
                        seqs.append(completion_token_logps(policy, tokenizer, t["prompt"], t[key])[0].double())
    finally:
        handle.remove()
    return seqs, zmax


def computed_dtype(policy, context) -> torch.dtype:
    """The dtype the LM head computes in under `context()` (an autocast context, or nullcontext)."""
    ids = torch.tensor([[1, 2, 3]], device=next(policy.parameters()).device)
    with torch.no_grad(), context():
        return policy(input_ids=ids).logits.dtype


def autocast_agreement(policy, tokenizer, triples: list[dict], beta: float = 0.1, dtype=torch.bfloat16,
                       context=None) -> dict:
    """fp32 against `context()` (default: CPU autocast to `dtype`) on conversational `triples`.

    `policy` is a PeftModel with fp32 weights; with its adapter disabled it is the reference. Returns:
    - "computed_dtype": what the LM head computed in under the context;
    - "rms_token_diff": root-mean-square Δ log p over every completion token; "token_bound": u·max|z|/√3 (see the
      module docstring); "mean_token_diff", "max_token_diff", "max_logit", "tokens";
    - "logps_fp32", "logps_low": sequence log-probs [triple][chosen π, chosen ref, rejected π, rejected ref];
    - "loss_fp32", "loss_low", "loss_diff" and "loss_bound" (β·|Δ margin|) per triple.
    """
    context = context or (lambda: torch.autocast("cpu", dtype=dtype))
    fp32, zmax = _token_logps(policy, tokenizer, triples)
    low_dtype = computed_dtype(policy, context)
    with context():
        low, _ = _token_logps(policy, tokenizer, triples)
    diffs = torch.cat([(a - b).abs() for a, b in zip(fp32, low, strict=True)])

    def sequences(seqs):
        return torch.stack([s.sum() for s in seqs]).view(len(triples), 4)

    def losses(lp):
        return dpo_loss(lp[:, 0], lp[:, 2], lp[:, 1], lp[:, 3], beta)[0]

    def margins(lp):
        return (lp[:, 0] - lp[:, 1]) - (lp[:, 2] - lp[:, 3])

    s32, slow = sequences(fp32), sequences(low)
    u = UNIT_ROUNDOFF.get(dtype, 2.0 ** -8)
    return {"computed_dtype": str(low_dtype).removeprefix("torch."),
            "rms_token_diff": float(diffs.pow(2).mean().sqrt()), "token_bound": u * zmax / 3 ** 0.5,
            "mean_token_diff": float(diffs.mean()), "max_token_diff": float(diffs.max()), "max_logit": zmax,
            "tokens": int(diffs.numel()),
            "logps_fp32": s32.tolist(), "logps_low": slow.tolist(),
            "loss_fp32": losses(s32).tolist(), "loss_low": losses(slow).tolist(),
            "loss_diff": (losses(s32) - losses(slow)).abs().tolist(),
            "loss_bound": (beta * (margins(s32) - margins(slow)).abs()).tolist()}


@contextlib.contextmanager
def rope_positions_in(dtype, policy):
    """A deliberate precision bug, for showing the bound catches one: rotary angles from positions rounded to
    `dtype` (bf16 holds integers exactly only up to 256), the classic RoPE-in-low-precision mistake."""
    rotary = policy.get_base_model().model.rotary_emb
    plain = rotary.forward

    def forward(x, position_ids):
        freqs = (position_ids[..., None].to(dtype) * rotary.inv_freq.to(dtype)).float()
        emb = torch.cat((freqs, freqs), dim=-1)
        return (emb.cos() * rotary.attention_scaling).to(x.dtype), (emb.sin() * rotary.attention_scaling).to(x.dtype)

    rotary.forward = forward
    try:
        yield
    finally:
        rotary.forward = plain
