"""Fault injection, data read strictly (issue: silently wrong data): malformed data is one line naming the file, the
row and the reason, and what a run reports about its data is true.

Table-driven: one row per fault. `{tmp}` in a needle is the test's tmp_path (absolute). Fast: tmp files and the tiny
model only (tests/conftest.py).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml

from helpers import training
from helpers.models import AdapterError, load_model
from helpers.preferences import PreferenceDataError, read_preferences, read_records
from helpers.task import DataError, read_jsonl
from helpers.training.cli import ConfigError, prepare_run
from tests.conftest import fake_adapter_dir, saved_tiny_base
from tests.test_faults_inputs import TRIPLE, _write, assert_one_clear_line

EXAMPLE = {"id": "x", "report": "search-api is down in eu-west-1.", "severity": "SEV2", "component": "search-api",
           "summary": "search-api is down in eu-west-1.", "hard_case": False, "scenario": "outage"}


def _lines(*rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)




# ----------------------------------------------------------------------------- 1. field types of gold examples


def _example_file(**changes):
    return lambda tmp: read_jsonl(_write(tmp, "ex.jsonl", _lines({**EXAMPLE, "id": "a"}, {**EXAMPLE, **changes})))


TYPE_FAULTS = [
    pytest.param(_example_file(hard_case="false"), ["{tmp}/ex.jsonl:2", "'hard_case'", "JSON boolean", "'false'"],
                 id="hard_case-string-false"),
    pytest.param(_example_file(hard_case="true"), ["{tmp}/ex.jsonl:2", "'hard_case'", "JSON boolean"],
                 id="hard_case-string-true"),
    pytest.param(_example_file(hard_case=0), ["{tmp}/ex.jsonl:2", "'hard_case'", "JSON boolean"], id="hard_case-0"),
    pytest.param(_example_file(hard_case=None), ["{tmp}/ex.jsonl:2", "'hard_case'", "JSON boolean"],
                 id="hard_case-null"),
    pytest.param(_example_file(scenario=3), ["{tmp}/ex.jsonl:2", "'scenario'", "string"], id="scenario-number"),
    pytest.param(_example_file(severity="sev2"), ["{tmp}/ex.jsonl:2", "'sev2'", "SEV1, SEV2, SEV3, SEV4"],
                 id="severity-lower-case"),
]


@pytest.mark.parametrize("call, needles", TYPE_FAULTS)
def test_a_field_of_the_wrong_type_is_one_line_naming_file_row_and_field(tmp_path, call, needles):
    with pytest.raises(DataError) as excinfo:
        call(tmp_path)
    assert_one_clear_line(excinfo, DataError, needles, tmp_path)


def test_real_booleans_still_load_and_pick_the_right_sft_examples(tmp_path):
    rows = [{**EXAMPLE, "id": f"e{i}", "hard_case": i % 2 == 0} for i in range(4)]
    loaded = read_jsonl(_write(tmp_path, "ok.jsonl", _lines(*rows)))
    assert [e["id"] for e in training.select_sft_examples(loaded, 2, "ordinary")] == ["e1", "e3"]


# ----------------------------------------------------------------------------- 2. a torn last line, 7. bytes


def _cli_dir(tmp: Path, prefs: str | bytes, **dpo) -> Path:
    fake_adapter_dir(tmp / "sft")
    _write(tmp, "prefs.jsonl", prefs)
    spec = {"preferences": str(tmp / "prefs.jsonl"), "out_dir": str(tmp / "out"), "kl_prompts_from_eval": 0,
            "dpo": {"sft_adapter": str(tmp / "sft"), **dpo}}
    return _write(tmp, "dpo.yaml", yaml.safe_dump(spec))


def _triples(n: int) -> list[dict]:
    return [{**TRIPLE, "rejected": [{"role": "assistant", "content": f"SEV{2 + i % 3} {i}"}]} for i in range(n)]


def _log(n: int) -> list[dict]:
    return [{"id": f"p{i}", "status": "kept", "severity": "SEV1", **t} for i, t in enumerate(_triples(n))]


TORN = _lines(*_triples(7)) + json.dumps(_triples(8)[-1])[:40]  # 8 triples, the last one torn by a killed write
TORN_LOG = _lines(*_log(3)) + json.dumps(_log(4)[-1])[:25]
BAD_BYTE = b'{"id": "\xe9"}\n'  # Latin-1 e-acute

READ_FAULTS = [
    pytest.param(lambda tmp: read_preferences(_write(tmp, "prefs.jsonl", TORN)), PreferenceDataError,
                 ["{tmp}/prefs.jsonl:8", "not valid JSON", "torn"], id="read_preferences-torn-last-line"),
    pytest.param(lambda tmp: prepare_run(_cli_dir(tmp, TORN)), PreferenceDataError,
                 ["{tmp}/prefs.jsonl:8", "not valid JSON"], id="cli-torn-last-triple"),
    pytest.param(lambda tmp: prepare_run(_cli_dir(tmp, TORN_LOG)), PreferenceDataError,
                 ["{tmp}/prefs.jsonl:4", "not valid JSON"], id="cli-torn-last-builder-record"),
    pytest.param(lambda tmp: read_records(_write(tmp, "samples.jsonl", TORN_LOG)), PreferenceDataError,
                 ["{tmp}/samples.jsonl:4", "not valid JSON"], id="read_records-torn-last-line"),
    pytest.param(lambda tmp: read_records(_write(tmp, "samples.jsonl", _lines(*_log(2)).encode() + BAD_BYTE)),
                 PreferenceDataError, ["{tmp}/samples.jsonl:3", "not UTF-8", "0xe9", "UTF-8"],
                 id="read_records-non-utf8-byte"),
    pytest.param(lambda tmp: read_records(_write(tmp, "samples.jsonl", b"\xff\xfe{}\n")), PreferenceDataError,
                 ["{tmp}/samples.jsonl:1", "not UTF-8"], id="read_records-binary"),
    pytest.param(lambda tmp: read_records(_write(tmp, "samples.jsonl", _lines(*_log(1)) + "[1, 2]\n")),
                 PreferenceDataError, ["{tmp}/samples.jsonl:2", "JSON object"], id="read_records-row-not-an-object"),
]


@pytest.mark.parametrize("call, exc, needles", READ_FAULTS)
def test_a_torn_or_undecodable_line_is_one_line_naming_file_and_line(tmp_path, call, exc, needles):
    with pytest.raises(exc) as excinfo:
        call(tmp_path)
    assert_one_clear_line(excinfo, exc, needles, tmp_path)


def test_resuming_the_builders_own_log_still_repairs_a_torn_tail(tmp_path):
    from helpers.preferences import repair_torn_tail

    path = _write(tmp_path, "samples.jsonl", TORN_LOG)
    repair_torn_tail(path)
    assert [r["id"] for r in read_records(path)] == ["p0", "p1", "p2"]
    assert read_records(tmp_path / "none.jsonl") == []


# ----------------------------------------------------------------------------- 3. pairs over max_length


def _rows(n: int, long: int = 0) -> list[dict]:
    """n pairs; the first `long` have a prompt of ~600 tokens, far over the max_length the tests use."""
    return [{"prompt": [{"role": "user", "content": ("word " * 600 if i < long else "") + f"incident {i}: "
                                                     "search-api is down in eu-west-1"}],
             "chosen": [{"role": "assistant", "content": '{"severity": "SEV2", "component": "search-api"}'}],
             "rejected": [{"role": "assistant", "content": "it is fine " * (i + 1)}]} for i in range(n)]


def _dpo_config(tiny_sft, tmp_path, **kw):
    base, sft = tiny_sft
    defaults = dict(model_name=str(base), sft_adapter=str(sft), batch_size=2, grad_accum=1, max_steps=1,
                    eval_steps=1, save_steps=1, kl_prompts=0, max_length=128,
                    checkpoint_dir=str(tmp_path / "ckpt"))
    return training.DPORunConfig(**{**defaults, **kw})


def test_pairs_dropped_for_length_are_counted_in_the_summary_card_and_a_line(tiny_sft, tmp_path, capsys):
    from datasets import Dataset

    train, val = Dataset.from_list(_rows(6, long=2)), Dataset.from_list(_rows(3, long=1))
    summary = training.train_dpo(_dpo_config(tiny_sft, tmp_path), train, val, out_dir=tmp_path / "run")
    assert summary["n_train"] == 4 and summary["n_eval"] == 2
    data = summary["data"]
    assert data["train"]["given"] == 6 and data["train"]["kept"] == 4 and data["train"]["dropped_too_long"] == 2
    assert data["validation"]["given"] == 3 and data["validation"]["kept"] == 2
    assert data["train"]["max_length"] == 128 and data["train"]["longest"] > 600
    out = capsys.readouterr().out
    assert re.search(r"4 of 6 training pairs.*2 dropped.*max_length=128", out), out
    json_path, md_path = training.write_run_card(tmp_path / "run", "v0", summary, {"triples_train": 6})
    card = json.loads(json_path.read_text())
    assert card["preference_data"]["trained_on"]["train"]["kept"] == 4
    assert "4 of 6 training pairs" in md_path.read_text()


LENGTH_FAULTS = [
    pytest.param(lambda cfg, tmp: training.train_dpo(cfg(max_length=16), _ds(_rows(4)), None, out_dir=tmp / "r"),
                 ["max_length=16", "every one of the 4 training pairs", "longest pair"], id="dpo-every-pair-too-long"),
    pytest.param(lambda cfg, tmp: training.train_dpo(cfg(), _ds(_rows(4, long=4)), None, out_dir=tmp / "r"),
                 ["max_length=128", "every one of the 4 training pairs", "longest pair"], id="dpo-every-long-prompt"),
    pytest.param(lambda cfg, tmp: training.train_dpo(cfg(), _ds(_rows(4)), _ds(_rows(2, long=2)), out_dir=tmp / "r"),
                 ["max_length=128", "every one of the 2 validation pairs", "longest pair"],
                 id="dpo-every-validation-pair-too-long"),
]


def _ds(rows):
    from datasets import Dataset

    return Dataset.from_list(rows)


@pytest.mark.parametrize("call, needles", LENGTH_FAULTS)
def test_when_every_pair_is_over_max_length_it_is_one_line(tiny_sft, tmp_path, call, needles):
    with pytest.raises(ValueError) as excinfo:
        call(lambda **kw: _dpo_config(tiny_sft, tmp_path, **kw), tmp_path)
    assert_one_clear_line(excinfo, ValueError, needles, tmp_path)
    match = re.search(r"longest pair[^0-9]*(\d+) tokens", str(excinfo.value))
    assert match and int(match.group(1)) > 16, str(excinfo.value)


def test_sft_when_every_report_is_over_max_length_it_is_one_line(tiny_sft, tmp_path):
    base, _ = tiny_sft
    examples = [{**EXAMPLE, "id": f"e{i}"} for i in range(2)]
    with pytest.raises(ValueError) as excinfo:
        training.train_sft(examples, tmp_path / "sft", model_name=str(base), max_length=8, batch_size=1,
                           grad_accum=1, gradient_checkpointing=False)
    assert_one_clear_line(excinfo, ValueError, ["max_length=8", "every one of the 2", "longest"], tmp_path)


# ----------------------------------------------------------------------------- 4. NaN and inf in the metrics


def _history(**bad):
    """A healthy log (steps 1-4, evaluations at 2 and 4) with the values in `bad` put in at step 4."""
    rows = []
    for step in range(1, 5):
        rows.append({"step": step, "loss": 0.69 - 0.01 * step, "rewards/margins": 0.1 * step})
        if step % 2 == 0:
            rows.append({"step": step, "eval_loss": 0.69 - 0.005 * step, "eval_rewards/margins": 0.08 * step,
                         "eval_kl": 0.1 * step})
    for key, value in bad.items():
        next(r for r in reversed(rows) if key in r)[key] = value
    return training.log_frame(rows)


HEALTH_FAULTS = [
    pytest.param({"loss": math.nan}, ["NaN", "loss"], id="nan-loss"),
    pytest.param({"rewards/margins": math.nan}, ["NaN", "rewards/margins"], id="nan-margins"),
    pytest.param({"eval_rewards/margins": math.nan}, ["NaN", "eval_rewards/margins"], id="nan-eval-margins"),
    pytest.param({"eval_kl": math.nan}, ["NaN", "eval_kl"], id="nan-kl"),
    pytest.param({"eval_kl": math.inf}, ["inf", "eval_kl"], id="inf-kl"),
    pytest.param({"loss": -math.inf}, ["inf", "loss"], id="minus-inf-loss"),
    pytest.param({"eval_loss": math.nan}, ["NaN", "eval_loss"], id="nan-eval-loss"),
]


@pytest.mark.parametrize("bad, needles", HEALTH_FAULTS)
def test_nan_or_inf_in_loss_margins_or_kl_is_flagged(bad, needles):
    assert training.training_health(_history()) == []
    flags = training.training_health(_history(**bad))
    assert flags, "no flag"
    for needle in needles:
        assert needle in flags[0], flags


# ----------------------------------------------------------------------------- 5. an adapter from another base


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    """Two base folders with the same shapes (SmolLM2-135M and SmolLM2-135M-Instruct, tiny), and adapters on each,
    recording the path of the base they were trained on; one adapter records no base."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("bases")
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"])
    for name in ("SmolLM2-135M", "SmolLM2-135M-Instruct"):
        saved_tiny_base(root / name)
        model = AutoModelForCausalLM.from_pretrained(root / name)  # so the adapter records its base's path
        get_peft_model(model, lora).save_pretrained(root / f"on-{name}")
    model, _ = saved_tiny_base(root / "unnamed-base")
    get_peft_model(model, lora).save_pretrained(root / "on-nothing")  # built from a config: no base recorded
    return root


def _recording(root: Path, base) -> Path:
    """A copy of the adapter on SmolLM2-135M-Instruct whose config records `base` as its base model."""
    import shutil

    folder = root / f"records-{str(base).replace('/', '_')}"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(root / "on-SmolLM2-135M-Instruct", folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = base
    (folder / "adapter_config.json").write_text(json.dumps(config))
    return folder


BASE_FAULTS = [
    pytest.param("SmolLM2-135M-Instruct", lambda root: root / "on-SmolLM2-135M",
                 ["{tmp}/on-SmolLM2-135M does not fit", "{tmp}/SmolLM2-135M ", "{tmp}/SmolLM2-135M-Instruct"],
                 id="base-vs-instruct-same-shapes"),
    pytest.param("SmolLM2-135M", lambda root: root / "on-SmolLM2-135M-Instruct",
                 ["on-SmolLM2-135M-Instruct does not fit", "{tmp}/SmolLM2-135M-Instruct", "{tmp}/SmolLM2-135M"],
                 id="instruct-vs-base-same-shapes"),
    pytest.param("SmolLM2-135M-Instruct", lambda root: _recording(root, "HuggingFaceTB/SmolLM2-135M"),
                 ["HuggingFaceTB/SmolLM2-135M", "{tmp}/SmolLM2-135M-Instruct"], id="hub-id-of-another-base"),
]


@pytest.mark.parametrize("loaded, make, needles", BASE_FAULTS)
def test_an_adapter_from_another_base_with_the_same_shapes_is_one_line(bases, loaded, make, needles):
    with pytest.raises(AdapterError) as excinfo:
        load_model(str(bases / loaded), adapter=make(bases), dev="cpu")
    assert_one_clear_line(excinfo, AdapterError, needles, bases)


SAME_BASE = [
    pytest.param("SmolLM2-135M", lambda root: root / "on-SmolLM2-135M", id="same-folder"),
    pytest.param("SmolLM2-135M-Instruct", lambda root: root / "on-nothing", id="base-not-recorded"),
    pytest.param("SmolLM2-135M-Instruct", lambda root: _recording(root, "HuggingFaceTB/SmolLM2-135M-Instruct"),
                 id="hub-id-of-the-same-model"),
    pytest.param("SmolLM2-135M-Instruct", lambda root: _recording(root, "/elsewhere/cache/smollm2-135m-instruct"),
                 id="provisioned-folder-elsewhere"),
    pytest.param("SmolLM2-135M-Instruct", lambda root: _recording(root, None), id="base-null"),
]


@pytest.mark.parametrize("loaded, make", SAME_BASE)
def test_an_adapter_on_the_same_base_still_loads(bases, loaded, make):
    model, _ = load_model(str(bases / loaded), adapter=make(bases), dev="cpu")
    assert model is not None


@pytest.mark.parametrize("a, b, same", [
    ("HuggingFaceTB/SmolLM2-135M-Instruct", "smollm2-135m-instruct", True),
    ("/home/x/.cache/workbook/smollm2-135m-instruct", "default", True),
    ("smollm2", "HuggingFaceTB/SmolLM2-135M-Instruct", True),
    ("HuggingFaceTB/SmolLM2-135M", "smollm2-135m-instruct", False),
    ("HuggingFaceTB/SmolLM2-360M-Instruct", "default", False),
])
def test_the_default_models_names_count_as_one_model(a, b, same):
    from helpers.models import same_model

    assert same_model(a, b) is same


# ----------------------------------------------------------------------------- 6. checkpoint_dir is a file


def test_checkpoint_dir_that_is_a_file_is_one_line_before_any_model_loads(tiny_sft, tmp_path, monkeypatch):
    import helpers.training.dpo as dpo

    def no_model(*args, **kwargs):
        raise AssertionError("the model loaded before the checkpoint_dir check")

    monkeypatch.setattr(dpo, "load_sft_policy", no_model)
    blocker = _write(tmp_path, "ckpt-file", "not a folder")
    config = _dpo_config(tiny_sft, tmp_path, checkpoint_dir=str(blocker))
    with pytest.raises(ValueError) as excinfo:
        training.train_dpo(config, _ds(_rows(2)), None, out_dir=tmp_path / "run")
    assert_one_clear_line(excinfo, ValueError, ["{tmp}/ckpt-file", "checkpoint_dir", "is a file"], tmp_path)
    with pytest.raises(ValueError) as excinfo:
        training.train_dpo(_dpo_config(tiny_sft, tmp_path), _ds(_rows(2)), None, out_dir=blocker)
    assert_one_clear_line(excinfo, ValueError, ["{tmp}/ckpt-file", "out_dir", "is a file"], tmp_path)


def test_cli_checkpoint_dir_that_is_a_file_is_one_line_naming_the_config(tmp_path):
    blocker = _write(tmp_path, "ckpt-file", "")
    with pytest.raises(ConfigError) as excinfo:
        prepare_run(_cli_dir(tmp_path, _lines(*_triples(2)), checkpoint_dir=str(blocker)))
    assert_one_clear_line(excinfo, ConfigError, ["{tmp}/dpo.yaml", "checkpoint_dir", "{tmp}/ckpt-file", "is a file"],
                    tmp_path)
