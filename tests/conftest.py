import os

import pytest
import torch

# No hub is reachable here; fail fast instead of waiting on network timeouts.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# training runs eagerly here: compiling each tiny model's layers costs more than its steps; the compiled path has its
# own tests (test_prefix_sharing.py), which turn it back on
os.environ.setdefault("WORKBOOK_COMPILE", "0")


@pytest.fixture(scope="session")
def tiny():
    from helpers.models import tiny_model

    return tiny_model()


@pytest.fixture(scope="session")
def smollm():
    from helpers.models import load_model

    return load_model(dtype=torch.float32)  # exact comparisons; what a notebook loads follows model_dtype()


def saved_tiny_base(folder):
    """The tiny model (seed 3) and its tokenizer, saved into `folder` as a base-model folder; returns them."""
    from helpers.models import tiny_model

    model, tokenizer = tiny_model(seed=3)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer


def fake_adapter_dir(folder):
    """A folder that passes the adapter-file checks (a PEFT config and a weights file) without loading a model."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    (folder / "adapter_model.safetensors").write_bytes(b"")
    return folder


@pytest.fixture
def interrupt():
    """interrupt(step, event="on_step_end"): a trainer callback that raises KeyboardInterrupt at `step`, as Ctrl-C
    or a kill in the middle of training would."""
    from transformers import TrainerCallback

    def make(step: int, event: str = "on_step_end"):
        def stop(self, args, state, control, **kwargs):
            if state.global_step == step:
                raise KeyboardInterrupt

        return type("Interrupt", (TrainerCallback,), {event: stop})()

    return make


@pytest.fixture(scope="session")
def tiny_sft(tmp_path_factory):
    """A tiny base model folder and a non-trivial LoRA "SFT" adapter on it."""
    from peft import get_peft_model

    from helpers import training

    root = tmp_path_factory.mktemp("tiny")
    model, _ = saved_tiny_base(root / "base")
    cfg = training.lora_config(r=4)
    cfg.init_lora_weights = False  # random, non-zero: the SFT policy differs from the base
    sft = get_peft_model(model, cfg)
    sft.save_pretrained(root / "sft")
    return root / "base", root / "sft"
