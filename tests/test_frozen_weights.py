"""Frozen base weights stored in bf16 (training.common.store_frozen_weights) must change memory only: under bf16
autocast the DPO loss and LoRA gradients, and the SFT's trained weights, equal those of fp32 weights cast at every op;
the KL monitor runs on the stored model; where training does not autocast nothing is stored."""

import math

import torch
from safetensors.torch import load_file

from helpers import training
from helpers.training.common import store_frozen_weights
from tests.test_prefix_sharing import _loss_and_grads, _pairs, assert_same_loss_and_grads, tiny_config


def _dpo_loss_and_grads(config, rows, tmp_path):
    from datasets import Dataset

    out = {}
    for stored in (False, True):
        cfg = training.DPORunConfig(**{**config.__dict__, "frozen_in_autocast_dtype": stored})
        trainer = training.make_dpo_trainer(cfg, Dataset.from_list(rows), output_dir=tmp_path / f"out-{stored}")
        frozen = {p.dtype for n, p in trainer.model.named_parameters() if "base_layer" in n}
        assert frozen == ({torch.bfloat16} if stored else {torch.float32})
        assert trainer.model.get_input_embeddings().weight.dtype == torch.float32  # the residual stream stays fp32
        trainer.model.eval()  # no dropout: the comparison is of the arithmetic
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out[stored] = _loss_and_grads(trainer, next(iter(trainer.get_train_dataloader())))
    assert_same_loss_and_grads(out[True], out[False], atol=0, rtol=0)  # bit for bit
    return trainer


def test_stored_bf16_weights_give_the_same_dpo_loss_and_gradients_on_the_tiny_model(tiny_sft, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_PRECISION", "bf16")
    trainer = _dpo_loss_and_grads(tiny_config(tiny_sft), _pairs(3), tmp_path)
    # the KL monitor runs the stored model outside the trainer's autocast: it autocasts itself
    prompts = ["<|im_start|>user\nsearch-api is down<|im_end|>\n<|im_start|>assistant\n"] * 2
    kl = training.policy_ref_kl(trainer.model, trainer.processing_class, prompts, max_new_tokens=4)
    assert math.isfinite(kl) and abs(kl) < 1e3


def test_stored_bf16_weights_give_the_same_dpo_loss_and_gradients_on_the_real_model(tmp_path, monkeypatch):
    from helpers.bench import bench_rows, fresh_adapter

    monkeypatch.setenv("WORKBOOK_PRECISION", "bf16")
    adapter = fresh_adapter(tmp_path / "adapter")
    config = training.DPORunConfig(sft_adapter=str(adapter), batch_size=2, grad_accum=1, max_steps=1, kl_prompts=0)
    _dpo_loss_and_grads(config, bench_rows(2), tmp_path)


def test_stored_bf16_weights_train_the_same_sft_adapter(tiny_sft, tmp_path, monkeypatch):
    from helpers.task import load_split

    monkeypatch.setenv("WORKBOOK_PRECISION", "bf16")
    base, _ = tiny_sft
    examples = load_split("sft")[:4]
    weights = {}
    for stored in (True, False):
        adapter = training.train_sft(examples, tmp_path / str(stored), model_name=str(base), batch_size=2,
                                     grad_accum=1, severity_weight=50.0, save_steps=100,
                                     frozen_in_autocast_dtype=stored)
        weights[stored] = load_file(adapter / "adapter_model.safetensors")
    assert weights[True].keys() == weights[False].keys()
    for name, value in weights[True].items():
        assert torch.equal(value, weights[False][name]), name
    assert any(v.abs().sum() > 0 for k, v in weights[True].items() if "lora_B" in k)  # it trained


def test_nothing_is_stored_where_training_does_not_autocast(tiny_sft, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_PRECISION", "fp32")
    base, sft = tiny_sft
    policy, _ = training.load_sft_policy(str(base), str(sft))
    config = training.DPORunConfig(model_name=str(base), sft_adapter=str(sft))
    args = training.dpo_args(config, tmp_path, has_eval=False)
    assert not args.bf16 and store_frozen_weights(policy, args) == 0
    assert {p.dtype for p in policy.parameters()} == {torch.float32}


def test_file_pages_are_given_back_only_inside_a_mapped_file_and_the_tensor_reads_the_same(tmp_path):
    from safetensors.torch import load_file, save_file

    from helpers.training.common import mapped_files, release_file_pages

    save_file({"w": torch.arange(4 * 1024 * 1024, dtype=torch.float32)}, tmp_path / "m.safetensors")
    mapped_tensor = load_file(tmp_path / "m.safetensors")["w"]  # memory-mapped, as transformers loads weights
    ranges = mapped_files()
    assert release_file_pages(mapped_tensor, ranges)
    assert torch.equal(mapped_tensor, torch.arange(4 * 1024 * 1024, dtype=torch.float32))  # read again from the file
    in_memory = torch.ones(1024 * 1024)
    assert not release_file_pages(in_memory, ranges) and bool((in_memory == 1).all())
