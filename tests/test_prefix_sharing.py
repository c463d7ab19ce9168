"""Prefix sharing computes each pair's prompt once and must change nothing else: the packing itself, then TRL's DPO
loss and the LoRA gradients against the unshared computation, in fp32, on the tiny model and on the real one."""

import pytest
import torch

from helpers import packing, training
from helpers.training import shared_prefix


def test_a_pair_packs_its_common_start_once_and_each_tail_from_the_last_common_token():
    first, second = [1, 2, 3, 4, 5], [1, 2, 3, 7, 8, 9]
    row = packing.pack_two(first, second, [0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1])
    assert row["shared"] == 2  # tokens 1, 2 once; token 3 starts each tail (it predicts 4 in one, 7 in the other)
    assert row["ids"] == [1, 2, 3, 4, 5, 3, 7, 8, 9]
    assert row["positions"] == [0, 1, 2, 3, 4, 2, 3, 4, 5]
    assert row["second_at"] == [0, 1, 5, 6, 7]
    # each packed position predicts what that position predicts in its own sequence
    for seq, side in ((first, "first"), (second, "second")):
        at, valid = row[f"{side}_at"], row[f"{side}_valid"]
        for i, p in enumerate(at):
            assert row["labels"][p] == (seq[i + 1] if valid[i] else -100)
    mask = packing.attention_mask([row], 10)[0, 0]
    assert not mask[5:9, 3:5].any()  # the second tail does not see the first
    assert mask[5:9, :2].all() and mask[8, 5:9].all()
    assert mask[9, 9] and mask[9].sum() == 1  # padding attends to itself only


def test_identical_and_disjoint_sequences_pack_too():
    same = packing.pack_two([1, 2, 3], [1, 2, 3], [0, 1, 1], [0, 1, 1])
    assert same["shared"] == 2 and same["ids"] == [1, 2, 3, 3]
    apart = packing.pack_two([1, 2], [3, 4], [0, 1], [0, 1])
    assert apart["shared"] == 0 and apart["ids"] == [1, 2, 3, 4] and apart["positions"] == [0, 1, 0, 1]


def _pairs(n):
    return [{"prompt": [{"role": "user", "content": f"incident {i}: search-api is down in eu-west-{i} " * (1 + i % 3)}],
             "chosen": [{"role": "assistant", "content": f'{{"severity": "SEV{1 + i % 4}", "component": "api"}}'}],
             "rejected": [{"role": "assistant", "content": f'{{"severity": "SEV{4 - i % 4}", "component": "db"}}'
                           + " unclear" * i}]} for i in range(n)]


def _loss_and_grads(trainer, batch):
    trainer.model.zero_grad()
    loss = trainer.compute_loss(trainer.model, dict(batch))
    loss.backward()
    metrics = {k: v[-1] for k, v in trainer._metrics["train"].items()}
    return loss.detach(), [p.grad.clone() for p in trainer.model.parameters() if p.requires_grad], metrics


def tiny_config(tiny_sft, **changes):
    """A one-step DPO config on the tiny model: 3 pairs in one micro-batch, the NLL term on, no KL monitor."""
    base, sft = tiny_sft
    return training.DPORunConfig(**{"model_name": str(base), "sft_adapter": str(sft), "batch_size": 3,
                                    "grad_accum": 1, "max_steps": 1, "kl_prompts": 0, "nll_weight": 0.5, **changes})


def assert_same_loss_and_grads(got, want, atol=1e-5, rtol=1e-4):
    """Two (loss, LoRA gradients, ...) results agree within the tolerances (0 and 0: bit for bit)."""
    torch.testing.assert_close(got[0], want[0], atol=atol, rtol=rtol)
    assert len(got[1]) == len(want[1])
    for g_got, g_want in zip(got[1], want[1], strict=True):
        torch.testing.assert_close(g_got, g_want, atol=atol, rtol=rtol)


def _compare(config, rows, tmp_path, atol=1e-5, rtol=1e-4):
    from datasets import Dataset

    out = {}
    for share in (False, True):
        cfg = training.DPORunConfig(**{**config.__dict__, "share_prefix": share})
        trainer = training.make_dpo_trainer(cfg, Dataset.from_list(rows), output_dir=tmp_path / f"out-{share}")
        batch = next(iter(trainer.get_train_dataloader()))
        assert (shared_prefix.KEY in batch) == share
        out[share] = (*_loss_and_grads(trainer, batch), batch)
        counts = trainer.data_counts["train"]
    (_, _, m_plain, batch), (_, _, m_shared, packed) = out[False], out[True]
    assert_same_loss_and_grads(out[True], out[False], atol=atol, rtol=rtol)
    for key in ("rewards/margins", "logps/chosen", "logps/rejected", "entropy", "mean_token_accuracy"):
        assert m_shared[key] == pytest.approx(m_plain[key], rel=1e-4, abs=1e-4), key
    # the packed rows hold fewer tokens than TRL's two sequences per pair
    assert packed[shared_prefix.KEY]["input_ids"].numel() < batch["input_ids"].numel()
    return counts


def test_dpo_loss_and_lora_gradients_equal_the_unshared_ones_on_the_tiny_model(tiny_sft, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_PRECISION", "fp32")
    _compare(tiny_config(tiny_sft), _pairs(3), tmp_path)


def test_pairs_cut_at_max_length_are_cut_the_same_way(tiny_sft, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_PRECISION", "fp32")
    base, sft = tiny_sft
    config = training.DPORunConfig(model_name=str(base), sft_adapter=str(sft), batch_size=2, grad_accum=1,
                                   max_steps=1, kl_prompts=0, max_length=64)
    counts = _compare(config, _pairs(2)[::-1] + _pairs(4)[3:], tmp_path)
    assert counts["truncated"] >= 1 and counts["kept"] == 3


def test_dpo_loss_and_lora_gradients_equal_the_unshared_ones_on_the_real_model(tmp_path, monkeypatch):
    from helpers.bench import bench_rows, fresh_adapter

    monkeypatch.setenv("WORKBOOK_PRECISION", "fp32")
    adapter = fresh_adapter(tmp_path / "adapter")
    config = training.DPORunConfig(sft_adapter=str(adapter), batch_size=2, grad_accum=1, max_steps=1, kl_prompts=0)
    _compare(config, bench_rows(2), tmp_path, atol=2e-5, rtol=2e-4)


def test_a_custom_collator_is_refused_in_one_line(tiny_sft, tmp_path):
    from datasets import Dataset

    base, sft = tiny_sft
    policy, tok = training.load_sft_policy(str(base), str(sft))
    config = training.DPORunConfig(model_name=str(base), sft_adapter=str(sft), max_steps=1)
    args = training.dpo_args(config, tmp_path, has_eval=False)
    with pytest.raises(TypeError, match="cannot be packed"):
        shared_prefix.trainer_class()(model=policy, ref_model=None, args=args,
                                      train_dataset=Dataset.from_list(_pairs(2)), processing_class=tok,
                                      data_collator=lambda rows: rows)


@pytest.mark.parametrize("checkpointing", [False, True])
def test_compiled_decoder_layers_give_the_eager_loss_and_gradients(tiny_sft, tmp_path, monkeypatch, checkpointing):
    from datasets import Dataset

    monkeypatch.setenv("WORKBOOK_PRECISION", "fp32")
    monkeypatch.setenv("WORKBOOK_COMPILE", "1")
    torch._dynamo.utils.counters.clear()
    out = {}
    for compiled in (False, True):
        config = tiny_config(tiny_sft, compile_layers=compiled, gradient_checkpointing=checkpointing)
        trainer = training.make_dpo_trainer(config, Dataset.from_list(_pairs(3)), output_dir=tmp_path / f"{compiled}")
        layers = trainer.model.get_base_model().model.layers
        assert all((layer._compiled_call_impl is not None) == compiled for layer in layers)
        trainer.model.eval()  # no dropout: compiled code draws other masks than eager code
        out[compiled] = _loss_and_grads(trainer, next(iter(trainer.get_train_dataloader())))
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0  # the compiled forward really ran
    assert_same_loss_and_grads(out[True], out[False])
