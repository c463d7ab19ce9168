import time

import pytest
import torch

from helpers import models
from helpers.generation import answer_reports
from helpers.models import ModelNotFoundError


@pytest.mark.parametrize("name, needle", [
    ("gpt-5-nano", "tried the built-in name"),
    ("./no/such/folder", "does not exist"),
    ("~/missing-model", "does not exist"),
])
def test_unknown_model_says_what_was_tried(name, needle):
    with pytest.raises(ModelNotFoundError) as err:
        models.resolve_model_path(name)
    assert needle in str(err.value)
    assert "smollm2-135m-instruct" in str(err.value)


def test_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        models.resolve_model_path(str(tmp_path))
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(ModelNotFoundError, match="PEFT adapter"):
        models.resolve_model_path(str(tmp_path))


def test_unreachable_hub_id_gets_a_clear_error():
    with pytest.raises(ModelNotFoundError, match="could not load"):
        models.load_model("HuggingFaceTB/SmolLM2-135M-Instruct")


def test_tiny_model_has_a_ready_tokenizer(tiny):
    model, tokenizer = tiny
    assert tokenizer.chat_template and tokenizer.pad_token is not None
    assert tokenizer.padding_side == "left"
    assert sum(p.numel() for p in model.parameters()) < 5e6


def test_local_folder_and_adapter_round_trip(tiny, tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model

    model, tokenizer = tiny
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    ids = tokenizer("checkout-api is down", return_tensors="pt").input_ids
    with torch.no_grad():
        expected = peft_model(ids).logits
    base_model = peft_model.unload()  # leaves the session's tiny model as it was

    loaded, _ = models.load_model(str(tmp_path / "model"), adapter=tmp_path / "adapter", merge_adapter=False,
                                  dtype=torch.float32)
    assert isinstance(loaded, PeftModel)
    merged, _ = models.load_model(str(tmp_path / "model"), adapter=tmp_path / "adapter",  # for inference: merged
                                  dtype=torch.float32)
    assert not isinstance(merged, PeftModel)
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, expected)
        torch.testing.assert_close(merged(ids).logits, expected, atol=1e-5, rtol=1e-5)
        assert not torch.allclose(base_model(ids).logits, expected)
    with pytest.raises(ModelNotFoundError, match="no PEFT adapter"):
        models.load_model(str(tmp_path / "model"), adapter=tmp_path / "nope")


@pytest.mark.slow
def test_default_model_loads_offline_and_answers(smollm):
    model, tokenizer = smollm
    assert sum(p.numel() for p in model.parameters()) > 100e6
    t0 = time.perf_counter()
    default, _ = models.load_model()  # from the provisioned safetensors copy
    assert time.perf_counter() - t0 < 15
    assert next(default.parameters()).dtype == models.model_dtype()  # bf16 only on a machine that does it natively
    answer = answer_reports(model, tokenizer, ["[ALERT] checkout-api down: 100% of requests return HTTP 502."],
                            max_new_tokens=40, progress=False)[0]
    assert len(answer.split()) >= 3


@pytest.mark.slow
def test_provisioned_copy_matches_the_gguf_model(smollm):
    """The safetensors cache gives the same next-token distribution as the GGUF it came from."""
    from transformers import AutoModelForCausalLM

    model, tokenizer = smollm
    src = models.gguf_path()
    gguf_model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
    ids = tokenizer("Incident: payments-gateway declines 80% of cards.", return_tensors="pt").input_ids
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, gguf_model(ids).logits)
