import os

import pytest
import torch

# No hub is reachable here; fail fast instead of waiting on network timeouts.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny():
    from helpers.models import tiny_model

    return tiny_model()


@pytest.fixture(scope="session")
def smollm():
    from helpers.models import load_model

    return load_model(dtype=torch.float32)  # exact comparisons; what a notebook loads follows model_dtype()


@pytest.fixture(scope="session")
def tiny_sft(tmp_path_factory):
    """A tiny base model folder and a non-trivial LoRA "SFT" adapter on it."""
    from peft import get_peft_model

    from helpers import training
    from helpers.models import tiny_model

    root = tmp_path_factory.mktemp("tiny")
    model, tokenizer = tiny_model(seed=3)
    model.save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    cfg = training.lora_config(r=4)
    cfg.init_lora_weights = False  # random, non-zero: the SFT policy differs from the base
    sft = get_peft_model(model, cfg)
    sft.save_pretrained(root / "sft")
    return root / "base", root / "sft"
