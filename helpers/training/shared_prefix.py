"""TRL's DPOTrainer with each pair's prompt computed once (helpers.packing): a collator that adds the packed pair to
TRL's batch, a model forward that reads it, and a DPOTrainer subclass that installs both.

TRL's loss, metrics and logging run unchanged: the packed forward returns its outputs in TRL's own layout (chosen
rows, then rejected rows, one column per next-token position), so only the model call differs.
"""

from __future__ import annotations

import types
from dataclasses import fields
from functools import lru_cache

from helpers.packing import collate, mask_for, pack_two, unpack
from helpers.training.common import base_model

KEY = "prefix_sharing"  # the batch entry holding the packed pairs; TRL passes it on to the model as a keyword
OUTPUTS = ("log_probs", "entropy", "log_sum_sq_probs", "mean_logits", "is_top1")


def _cut(ids: list, max_length: int | None, mode: str) -> list:
    """A sequence as TRL's DataCollatorForPreference truncates it."""
    if max_length is None:
        return ids
    return ids[:max_length] if mode == "keep_start" else ids[-max_length:]


def pack_pairs(examples: list[dict], pad_token_id: int, width: int, max_length: int | None = None,
               truncation_mode: str = "keep_start") -> dict:
    """TRL's tokenised pairs ({"prompt_ids", "chosen_ids", "rejected_ids"}) packed, one row per pair, cut at
    max_length as TRL cuts them; `width` is the padded length of TRL's own batch (see packing.collate)."""
    rows = []
    for ex in examples:
        prompt, chosen, rejected = ex["prompt_ids"], ex["chosen_ids"], ex["rejected_ids"]
        first = _cut(prompt + chosen, max_length, truncation_mode)
        second = _cut(prompt + rejected, max_length, truncation_mode)
        first_scored = _cut([0] * len(prompt) + [1] * len(chosen), max_length, truncation_mode)
        second_scored = _cut([0] * len(prompt) + [1] * len(rejected), max_length, truncation_mode)
        rows.append(pack_two(first, second, first_scored, second_scored))
    return collate(rows, pad_token_id, width)


@lru_cache(maxsize=1)
def collator_class():
    """DataCollatorForPreference that also packs each pair (the batch's `prefix_sharing` entry)."""
    from dataclasses import dataclass

    from trl.trainer.dpo_trainer import DataCollatorForPreference

    @dataclass
    class SharedPrefixCollator(DataCollatorForPreference):
        def torch_call(self, examples):
            batch = super().torch_call(examples)
            batch[KEY] = pack_pairs(examples, self.pad_token_id, batch["input_ids"].shape[1], self.max_length,
                                    self.truncation_mode)
            return batch

    return SharedPrefixCollator


def share_prefix_forward(model) -> None:
    """Let `model(..., fused_lm_head=True, prefix_sharing=packed)` run on the packed rows and return TRL's
    FusedCausalLMOutput in the unshared layout. `model` is the causal LM carrying TRL's fused LM head (under a
    PEFT wrapper, its base model). Without the keyword the forward is the one it replaces."""
    if getattr(model, "_shares_prefix", False):
        return
    from trl.trainer.utils import FusedCausalLMOutput

    inner = model.forward

    def forward(self, *args, prefix_sharing=None, **kwargs):
        if prefix_sharing is None:
            return inner(*args, **kwargs)
        if not kwargs.get("fused_lm_head"):
            raise ValueError("prefix sharing scores with TRL's fused LM head: call with fused_lm_head=True")
        packed = prefix_sharing
        mask = mask_for(self, packed["attention_mask"])
        out = inner(input_ids=packed["input_ids"], attention_mask=mask, position_ids=packed["position_ids"],
                    shift_labels=packed["labels"], fused_lm_head=True, use_cache=False)
        per_token = {name: unpack(getattr(out, name), packed) for name in OUTPUTS}
        valid = packed["valid"]
        loss = -per_token["log_probs"].sum() / valid.sum().clamp(min=1)
        return FusedCausalLMOutput(loss=loss, **per_token, label_mask=valid, aux_loss=out.aux_loss)

    model.forward = types.MethodType(forward, model)
    model._shares_prefix = True


@lru_cache(maxsize=1)
def trainer_class():
    """DPOTrainer whose batches carry the packed pairs and whose policy (and reference) read them."""
    from trl import DPOTrainer
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    class SharedPrefixDPOTrainer(DPOTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            collator = self.data_collator
            if type(collator) is DataCollatorForPreference:
                self.data_collator = collator_class()(**{f.name: getattr(collator, f.name) for f in fields(collator)})
            elif not isinstance(collator, collator_class()):
                raise TypeError(f"prefix sharing packs TRL's own preference batches; a {type(collator).__name__} "
                                "cannot be packed (use the plain DPOTrainer with it)")
            model = self.model
            share_prefix_forward(base_model(model))
            if self.ref_model is not None:
                share_prefix_forward(self.ref_model)

    return SharedPrefixDPOTrainer
