"""Fault injection, bad inputs (issue #13): every bad input is ONE clear line, raised before any work starts.

Table-driven: one row per fault. Each row names the exception it expects and what the message must name (the file
and line, the parameter and its value, or the adapter's base model and the loaded one), and every message must be a
single line. `{tmp}` in a needle is the test's tmp_path (absolute). Fast: tmp_path files and the tiny model only.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from helpers import checks, datagen, sessions, task
from helpers import dpo_math as dm
from helpers.models import AdapterError, ModelNotFoundError
from helpers.preferences import PreferenceDataError, load_ultrafeedback, validate_preferences
from helpers.task import DataError, parse_response, read_jsonl, score_response
from helpers.training.cli import ConfigError, main, prepare_run
from tests.conftest import fake_adapter_dir, saved_tiny_base

EXAMPLE = {"id": "x", "report": "search-api is down in eu-west-1.", "severity": "SEV2", "component": "search-api",
           "summary": "search-api is down in eu-west-1."}
ROW = json.dumps(EXAMPLE)
TRIPLE = {"prompt": [{"role": "user", "content": "checkout-api down"}],
          "chosen": [{"role": "assistant", "content": '{"severity": "SEV1"}'}],
          "rejected": [{"role": "assistant", "content": "SEV3"}]}


def _row(**changes) -> str:
    return json.dumps({**EXAMPLE, **changes})


def _write(tmp: Path, name: str, content: str | bytes) -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def assert_one_clear_line(excinfo, exc_type, needles, tmp: Path):
    """The fault's contract: the right exception class, one line, and it names what it should."""
    err = excinfo.value
    message = str(err)
    assert isinstance(err, exc_type), f"{type(err).__name__}: {message}"
    assert message.strip() and "\n" not in message, f"not one line: {message!r}"
    for needle in needles:
        needle = needle.format(tmp=tmp)
        assert needle in message, f"{needle!r} not in {message!r}"


# ----------------------------------------------------------------------------- data files (helpers.task)


def _jsonl(name, content):
    return lambda tmp: read_jsonl(_write(tmp, name, content))


DATA_FAULTS = [
    pytest.param(_jsonl("empty.jsonl", ""), DataError, ["{tmp}/empty.jsonl", "no rows"], id="empty-file"),
    pytest.param(_jsonl("blank.jsonl", "\n   \n\t\n"), DataError, ["{tmp}/blank.jsonl", "no rows"],
                 id="only-blank-lines"),
    pytest.param(_jsonl("dup.jsonl", f"{ROW}\n{_row(id='y')}\n{ROW}\n"), DataError,
                 ["{tmp}/dup.jsonl:3", "duplicate id 'x'", "first on line 1"], id="duplicate-id"),
    pytest.param(_jsonl("dup2.jsonl", f"{ROW}\n\n\n{ROW}\n"), DataError, ["{tmp}/dup2.jsonl:4", "duplicate id 'x'"],
                 id="duplicate-id-after-blank-lines"),
    pytest.param(_jsonl("latin1.jsonl", f"{ROW}\n".encode() + _row(id="y").replace("down", "dówn").encode("latin-1")),
                 DataError, ["{tmp}/latin1.jsonl:2", "not UTF-8", "0xf3"], id="non-utf8-byte"),
    pytest.param(_jsonl("binary.jsonl", b"\xff\xfe\x00garbage\n"), DataError, ["{tmp}/binary.jsonl:1", "not UTF-8"],
                 id="binary-file"),
    pytest.param(_jsonl("bad.jsonl", f'{ROW}\n{{"id": "y", "report": \n'), DataError,
                 ["{tmp}/bad.jsonl:2", "not valid JSON", "column 23"], id="malformed-json"),
    pytest.param(_jsonl("torn.jsonl", f"{ROW}\n{ROW[:30]}"), DataError, ["{tmp}/torn.jsonl:2", "not valid JSON"],
                 id="truncated-last-line"),
    pytest.param(_jsonl("dupkey.jsonl", ROW[:-1] + ', "severity": "SEV4"}\n'), DataError,
                 ["{tmp}/dupkey.jsonl:1", "key 'severity' given twice"], id="duplicate-key-in-row"),
    pytest.param(_jsonl("list.jsonl", '["a", "list"]\n'), DataError, ["{tmp}/list.jsonl:1", "expected a JSON object"],
                 id="row-not-an-object"),
    pytest.param(_jsonl("missing.jsonl", json.dumps({k: v for k, v in EXAMPLE.items() if k != "summary"})), DataError,
                 ["{tmp}/missing.jsonl:1", "missing field 'summary'"], id="missing-field"),
    pytest.param(_jsonl("sev.jsonl", _row(severity="P1")), DataError, ["{tmp}/sev.jsonl:1", "'P1'"],
                 id="unknown-severity"),
    pytest.param(lambda tmp: read_jsonl(tmp / "nope.jsonl"), FileNotFoundError, ["{tmp}/nope.jsonl", "does not exist"],
                 id="missing-file"),
    pytest.param(lambda tmp: read_jsonl(tmp), DataError, ["{tmp}", "not a file"], id="folder-not-file"),
    pytest.param(lambda tmp: task.load_split("eval", data_dir=_write(tmp, "data/eval.jsonl", "").parent), DataError,
                 ["{tmp}/data/eval.jsonl", "no rows", "helpers.datagen"], id="load-split-empty-eval"),
    pytest.param(lambda tmp: task.load_split("train"), ValueError, ["'train'", "sft, prefs, eval"],
                 id="load-split-unknown-name"),
]


@pytest.mark.parametrize("call, exc, needles", DATA_FAULTS)
def test_bad_data_file_is_one_line_naming_file_and_line(tmp_path, call, exc, needles):
    with pytest.raises(exc) as excinfo:
        call(tmp_path)
    assert_one_clear_line(excinfo, exc, needles, tmp_path)


def test_a_valid_file_still_loads_with_a_bom_and_blank_lines(tmp_path):
    path = _write(tmp_path, "ok.jsonl", "\ufeff" + ROW + "\n\n" + _row(id="y") + "\n")
    assert [r["id"] for r in read_jsonl(path)] == ["x", "y"]
    assert len(task.load_split("eval")) >= 60  # the shipped data: no duplicate ids, all UTF-8


# ----------------------------------------------------------------------------- the output parser


GOOD = '{"severity": "SEV2", "component": "search-api", "summary": "%s"}'


@pytest.mark.parametrize("summary", [
    "search-api is down in eu-west-1, e.g. for logins.",
    "search-api fails for some users, i.e. those in eu-west-1.",
    "search-api fails for approx. 3% of requests.",
    "search-api v1.2 returns HTTP 500 in eu-west-1.",
    "search-api is down for U.S. customers in eu-west-1.",
    "search-api error rate is 2.5% since 9 a.m. in eu-west-1.",
    "search-api returns errors (HTTP 500, 502, etc.) in eu-west-1.",
    "search-api is down in eu-west-1",
], ids=["e.g.", "i.e.", "approx.", "version-v1.2", "U.S.", "decimal-and-a.m.", "etc.-mid-sentence", "no-final-period"])
def test_one_sentence_with_an_abbreviation_scores_format_1(summary):
    scores = score_response(GOOD % summary, EXAMPLE)
    assert scores["format_ok"] == 1, scores["format_problems"]
    assert scores["severity_match"] == scores["component_match"] == 1


@pytest.mark.parametrize("summary", [
    "search-api is down. Users are angry.",
    "search-api is down. Users are angry",
    "search-api is down! Users are angry.",
    "search-api is down, e.g. for logins. Users are angry.",
    "search-api is down. payments-gateway is slow.",
], ids=["two-sentences", "second-without-period", "exclamation", "abbreviation-then-two", "lowercase-service-start"])
def test_two_real_sentences_still_score_format_0(summary):
    scores = score_response(GOOD % summary, EXAMPLE)
    assert scores["format_ok"] == 0 and "more than one sentence" in scores["format_problems"]


@pytest.mark.parametrize("text", [
    '{"severity": "SEV4", "component": "search-api", "summary": "search-api is down.", "severity": "SEV2"}',
    '{"severity": "SEV2", "severity": "SEV2", "component": "search-api", "summary": "search-api is down."}',
], ids=["conflicting-values", "same-value-twice"])
def test_a_duplicated_severity_key_is_malformed_not_scored_by_its_last_value(text):
    parsed = parse_response(text)
    assert not parsed.valid and "duplicate keys: severity" in parsed.reason
    assert parsed.severity is None  # ambiguous: neither value is scored
    assert score_response(text, EXAMPLE)["severity_match"] == 0


def test_parser_never_raises_on_duplicate_keys_and_deep_nesting():
    for text in ['{"a": 1, "a": {"b": 2, "b": 3}}', "{" * 5000 + "}" * 5000, '{"summary": "' + "e.g. " * 5000 + '"}',
                 '{"severity": "SEV1", "severity": null, "severity": [], "component": {}, "summary": 3}']:
        assert not parse_response(text).valid


# ----------------------------------------------------------------------------- parameters (Session A, loaders)


def _toy():
    return dm.make_toy(3, 4, seed=0)


PARAMETER_FAULTS = [
    pytest.param(lambda: dm.make_toy(n_prompts=0), ["n_prompts", "got 0"], id="make_toy-n_prompts=0"),
    pytest.param(lambda: dm.make_toy(n_prompts=-3), ["n_prompts", "got -3"], id="make_toy-n_prompts=-3"),
    pytest.param(lambda: dm.make_toy(n_prompts=2.5), ["n_prompts", "got 2.5"], id="make_toy-n_prompts=2.5"),
    pytest.param(lambda: dm.make_toy(n_responses=0), ["n_responses", ">= 2", "got 0"], id="make_toy-n_responses=0"),
    pytest.param(lambda: dm.make_toy(n_responses=1), ["n_responses", "got 1"], id="make_toy-n_responses=1"),
    pytest.param(lambda: dm.sample_pairs(_toy(), 0), ["n_pairs", "got 0"], id="sample_pairs-n_pairs=0"),
    pytest.param(lambda: dm.sample_pairs(_toy(), -5), ["n_pairs", "got -5"], id="sample_pairs-n_pairs=-5"),
    pytest.param(lambda: dm.reward_recovery(_toy(), [], 0.5), ["pair_counts", "got []"], id="reward_recovery-[]"),
    pytest.param(lambda: dm.reward_recovery(_toy(), [50, 0], 0.5, steps=5), ["pair_counts", "got [50, 0]"],
                 id="reward_recovery-count-0-checked-first"),
    pytest.param(lambda: dm.reward_recovery(_toy(), [50], 0.5, steps=0), ["steps", "got 0"],
                 id="reward_recovery-steps=0"),
    pytest.param(lambda: dm.train_tabular_dpo(_toy().ref_logprobs, dm.sample_pairs(_toy(), 4), 0.5, steps=0),
                 ["steps", "got 0"], id="train_tabular_dpo-steps=0"),
    pytest.param(lambda: dm.train_tabular_dpo(_toy().ref_logprobs, dm.sample_pairs(_toy(), 4), 0.5, lr=-1),
                 ["lr", "got -1"], id="train_tabular_dpo-lr=-1"),
    pytest.param(lambda: dm.optimal_policy(_toy().ref_logprobs, _toy().reward, beta=0), ["beta", "got 0"],
                 id="optimal_policy-beta=0"),
    pytest.param(lambda: dm.optimal_policy(_toy().ref_logprobs, _toy().reward, beta=float("nan")), ["beta", "nan"],
                 id="optimal_policy-beta=nan"),
    pytest.param(lambda: dm.maximise_rlhf_objective(_toy().ref_logprobs[:, :0], _toy().reward[:, :0], 0.5),
                 ["n_responses >= 2", "(3, 0)"], id="maximise_rlhf_objective-no-responses"),
    pytest.param(lambda: dm.dpo_vs_rlhf(_toy(), dm.sample_pairs(_toy(), 4), 0.5, dpo_steps=0), ["dpo_steps", "got 0"],
                 id="dpo_vs_rlhf-dpo_steps=0"),
    pytest.param(lambda: dm.beta_sweep(_toy(), dm.sample_pairs(_toy(), 4), []), ["betas", "got []"],
                 id="beta_sweep-no-betas"),
    pytest.param(lambda: dm.gradient_check(n_responses=1), ["n_responses", "got 1"], id="gradient_check-n_responses=1"),
    pytest.param(lambda: dm.perturbation_gaps(_toy().ref_logprobs, _toy().ref_logprobs, _toy().reward, 0.5, n=0),
                 ["n must be", "got 0"], id="perturbation_gaps-n=0"),
    pytest.param(lambda: datagen.generate(sizes={"eval": -1}), ["sizes['eval']", "got -1"], id="datagen-size=-1"),
    pytest.param(lambda: datagen.generate(sizes={"train": 5}), ["'train'", "sft, prefs, eval"],
                 id="datagen-unknown-split"),
]


@pytest.mark.parametrize("call, needles", PARAMETER_FAULTS)
def test_bad_parameter_is_one_line_naming_it_and_its_value(tmp_path, call, needles):
    with pytest.raises(checks.ParameterError) as excinfo:
        call()
    assert_one_clear_line(excinfo, ValueError, needles, tmp_path)


NOTEBOOK_01 = dict(n_prompts=4, n_responses=6, beta=0.5, n_pairs=4000, pair_counts=[50, 200, 1000, 4000],
                   beta_grid=[0.01, 0.1, 1.0], sweep_pairs=300, train_steps=1500, seed=0, notes_dir="notes")


@pytest.mark.parametrize("changes, needles", [
    ({"n_prompts": 0}, ["n_prompts", "got 0"]),
    ({"n_responses": 0}, ["n_responses", "got 0"]),
    ({"pair_counts": []}, ["pair_counts", "got []"]),
    ({"pair_counts": [4000, 50]}, ["pair_counts", "increasing order", "got [4000, 50]"]),
    ({"train_steps": 0}, ["train_steps", "got 0"]),
    ({"n_pairs": 0}, ["n_pairs", "got 0"]),
    ({"beta": -0.5}, ["beta must be", "got -0.5"]),
    ({"beta_grid": [1.0]}, ["beta_grid", "got [1.0]"]),
    ({"sweep_pairs": -1}, ["sweep_pairs", "got -1"]),
    ({"n_prompts": 0, "train_steps": 0}, ["n_prompts", "train_steps"]),
], ids=["n_prompts=0", "n_responses=0", "pair_counts=[]", "pair_counts-decreasing", "train_steps=0", "n_pairs=0",
        "beta<0", "beta_grid-one-value", "sweep_pairs=-1", "two-bad-at-once"])
def test_session_a_parameters_are_checked_at_once_before_any_work(tmp_path, changes, needles):
    import time

    t0 = time.perf_counter()
    with pytest.raises(checks.ParameterError) as excinfo:
        sessions.check_parameters("01_dpo_math", {**NOTEBOOK_01, **changes})
    assert time.perf_counter() - t0 < 0.1
    assert_one_clear_line(excinfo, ValueError, needles, tmp_path)


def test_notebook_01_checks_every_parameter_and_its_profiles_pass():
    from helpers import workbook

    path = workbook.notebook_path("01_dpo_math")
    defaults = workbook.notebook_parameters(path)
    checked = set(NOTEBOOK_01)
    assert set(defaults) - checked == {"run_dir", "profile", "model_name", "exercises"}
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    tagged = next(i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
    assert 'sessions.start("01_dpo_math", globals())' in "".join(cells[tagged + 1]["source"])
    for per_notebook in workbook.load_profiles().values():
        settings = {**defaults, **(per_notebook.get("01_dpo_math") or {})}
        sessions.check_parameters("01_dpo_math", {k: v for k, v in settings.items() if k in checked})


# ----------------------------------------------------------------------------- preference files and rows


def _uf(name, content, **kwargs):
    return lambda tmp: load_ultrafeedback(str(_write(tmp, name, content)), **kwargs)


PREFERENCE_FAULTS = [
    pytest.param(_uf("uf.jsonl", "", limit=-1), checks.ParameterError, ["limit", "got -1"], id="limit=-1"),
    pytest.param(_uf("uf.jsonl", "", limit=0), checks.ParameterError, ["limit", "got 0"], id="limit=0"),
    pytest.param(_uf("uf.jsonl", ""), DataError, ["{tmp}/uf.jsonl", "no rows"], id="ultrafeedback-empty-jsonl"),
    pytest.param(_uf("uf.jsonl", "\n\n"), DataError, ["{tmp}/uf.jsonl", "no rows"], id="ultrafeedback-blank-jsonl"),
    pytest.param(_uf("uf.json", ""), PreferenceDataError, ["{tmp}/uf.json", "empty"], id="ultrafeedback-empty-json"),
    pytest.param(_uf("uf.parquet", "not parquet"), PreferenceDataError, ["{tmp}/uf.parquet", "could not be read"],
                 id="ultrafeedback-garbage-parquet"),
    pytest.param(_uf("uf.jsonl", '{"prompt": "q"}\n{"prompt": \n'), DataError, ["{tmp}/uf.jsonl:2", "not valid JSON"],
                 id="ultrafeedback-malformed-line"),
    pytest.param(lambda tmp: load_ultrafeedback(str(tmp / "missing.jsonl")), FileNotFoundError,
                 ["{tmp}/missing.jsonl", "does not exist"], id="ultrafeedback-missing-local-file"),
    pytest.param(_uf("uf.jsonl", '{"prompt": "q"}\n'), PreferenceDataError,
                 ["{tmp}/uf.jsonl", "row 0: missing field 'chosen'"], id="ultrafeedback-missing-key"),
    pytest.param(lambda tmp: validate_preferences([TRIPLE, "text", {"prompt": "p"}, {**TRIPLE, "chosen": ""}],
                                                  source=tmp / "p.jsonl", line_numbers=[1, 2, 4, 5]),
                 PreferenceDataError, ["3 of 4", "{tmp}/p.jsonl:2: not a mapping", "{tmp}/p.jsonl:4: missing key(s)",
                                       "{tmp}/p.jsonl:5: wrong types"], id="rows-not-dict-missing-keys-empty"),
    pytest.param(lambda tmp: validate_preferences([{"prompt": "p", "chosen": " ", "rejected": "r"}] * 30),
                 PreferenceDataError, ["30 of 30", "row 0: chosen is empty", "and 10 more"], id="many-bad-rows"),
]


@pytest.mark.parametrize("call, exc, needles", PREFERENCE_FAULTS)
def test_bad_preference_input_is_one_line(tmp_path, call, exc, needles):
    with pytest.raises(exc) as excinfo:
        call(tmp_path)
    assert_one_clear_line(excinfo, exc, needles, tmp_path)


# ----------------------------------------------------------------------------- `python -m helpers.training dpo`


@pytest.fixture
def cli_dir(tmp_path):
    """A config whose every input is fine (no model is loaded by the checks): faults are injected one at a time."""
    fake_adapter_dir(tmp_path / "sft")
    _write(tmp_path, "prefs.jsonl", json.dumps(TRIPLE) + "\n" + json.dumps({**TRIPLE, "rejected": [
        {"role": "assistant", "content": "SEV2"}]}) + "\n")
    return tmp_path


def _cli(spec_changes=None, dpo_changes=None, prefs: str | bytes | None = None, raw: str | None = None):
    def call(tmp):
        spec = {"preferences": str(tmp / "prefs.jsonl"), "out_dir": str(tmp / "out"), "kl_prompts_from_eval": 0,
                "dpo": {"sft_adapter": str(tmp / "sft"), **(dpo_changes or {})}, **(spec_changes or {})}
        spec = {k: v.format(tmp=tmp) if isinstance(v, str) else v for k, v in spec.items() if v is not None}
        if prefs is not None:
            _write(tmp, "prefs.jsonl", prefs)
        config = _write(tmp, "dpo.yaml", raw if raw is not None else yaml.safe_dump(spec))
        return prepare_run(config)
    return call


CLI_FAULTS = [
    pytest.param(_cli({"preferences": "{tmp}/gone.jsonl"}), FileNotFoundError,
                 ["{tmp}/gone.jsonl", "not found", "{tmp}/dpo.yaml"], id="missing-preferences-file"),
    pytest.param(_cli(prefs=""), PreferenceDataError, ["{tmp}/prefs.jsonl", "no preference rows"],
                 id="empty-preferences-file"),
    pytest.param(_cli(prefs="\n \n"), PreferenceDataError, ["{tmp}/prefs.jsonl", "no preference rows"],
                 id="blank-preferences-file"),
    pytest.param(_cli(prefs=json.dumps(TRIPLE).encode() + b"\n\xe9\n"), PreferenceDataError,
                 ["{tmp}/prefs.jsonl:2", "not UTF-8"], id="non-utf8-preferences"),
    pytest.param(_cli(prefs=json.dumps(TRIPLE) + "\n" + json.dumps({**TRIPLE, "rejected": TRIPLE["chosen"]}) + "\n"),
                 PreferenceDataError, ["{tmp}/prefs.jsonl:2", "identical"], id="identical-chosen-rejected"),
    pytest.param(_cli(prefs="\n" + json.dumps({"prompt": "p"}) + "\n" + json.dumps(TRIPLE) + "\n"),
                 PreferenceDataError, ["{tmp}/prefs.jsonl:2", "missing key(s): chosen, rejected"],
                 id="row-missing-keys-line-number"),
    pytest.param(_cli(prefs='"just text"\n' + json.dumps(TRIPLE) + "\n"), PreferenceDataError,
                 ["{tmp}/prefs.jsonl:1", "not a mapping"], id="row-not-a-dict"),
    pytest.param(_cli(raw=""), ConfigError, ["{tmp}/dpo.yaml", "empty"], id="empty-config"),
    pytest.param(_cli(raw="preferences: [unclosed\n"), ConfigError, ["{tmp}/dpo.yaml:", "not valid YAML"],
                 id="invalid-yaml"),
    pytest.param(_cli({"preference": "x.jsonl"}), ConfigError, ["{tmp}/dpo.yaml", "unknown setting(s) preference"],
                 id="typo-in-setting"),
    pytest.param(_cli({"preferences": None}), ConfigError, ["{tmp}/dpo.yaml", "`preferences`", "None"],
                 id="no-preferences-setting"),
    pytest.param(_cli(dpo_changes={"betta": 0.1}), ConfigError, ["{tmp}/dpo.yaml", "unknown field(s) betta"],
                 id="typo-in-dpo-field"),
    pytest.param(_cli(dpo_changes={"beta": 0}), ConfigError, ["{tmp}/dpo.yaml", "beta", "got 0"], id="beta=0"),
    pytest.param(_cli(dpo_changes={"beta": "high"}), ConfigError, ["beta", "got 'high'"], id="beta-not-a-number"),
    pytest.param(_cli(dpo_changes={"max_steps": 0}), ConfigError, ["max_steps", "got 0"], id="max_steps=0"),
    pytest.param(_cli(dpo_changes={"grad_accum": -2}), ConfigError, ["grad_accum", "got -2"], id="grad_accum=-2"),
    pytest.param(_cli({"val_fraction": 1.5}), ConfigError, ["val_fraction", "got 1.5"], id="val_fraction=1.5"),
    pytest.param(_cli({"kl_prompts_from_eval": -1}), ConfigError, ["kl_prompts_from_eval", "got -1"],
                 id="kl_prompts_from_eval=-1"),
    pytest.param(_cli(dpo_changes={"sft_adapter": ""}), ConfigError, ["sft_adapter is empty"], id="sft_adapter-empty"),
    pytest.param(_cli(dpo_changes={"sft_adapter": "/nonexistent/adapter"}), ConfigError,
                 ["/nonexistent/adapter", "adapter_config.json"], id="sft_adapter-missing"),
    pytest.param(lambda tmp: prepare_run(tmp / "none.yaml"), FileNotFoundError, ["{tmp}/none.yaml"],
                 id="missing-config-file"),
]


@pytest.mark.parametrize("call, exc, needles", CLI_FAULTS)
def test_bad_cli_input_is_one_line_before_any_model_loads(cli_dir, call, exc, needles):
    with pytest.raises(exc) as excinfo:
        call(cli_dir)
    assert_one_clear_line(excinfo, exc, needles, cli_dir)


def test_cli_prints_one_line_and_exits_2_for_a_missing_preferences_file(cli_dir, capsys):
    spec = {"preferences": str(cli_dir / "gone.jsonl"), "kl_prompts_from_eval": 0,
            "dpo": {"sft_adapter": str(cli_dir / "sft")}}
    config = _write(cli_dir, "dpo.yaml", yaml.safe_dump(spec))
    assert main(["dpo", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and str(cli_dir / "gone.jsonl") in err


def test_a_good_cli_config_still_prepares(cli_dir):
    run = _cli()(cli_dir)
    assert len(run.train) == 2 and run.val is None and run.config.sft_adapter == str(cli_dir / "sft")


# ----------------------------------------------------------------------------- adapters (helpers.models.load_model)


@pytest.fixture(scope="module")
def adapters(tmp_path_factory):
    """A saved tiny base model, a fitting adapter, and an adapter trained on a narrower base (another model)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    root = tmp_path_factory.mktemp("adapters")
    model, _ = saved_tiny_base(root / "base")
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"])
    get_peft_model(model, lora).save_pretrained(root / "fits")
    narrow = LlamaForCausalLM(LlamaConfig(**{**model.config.to_dict(), "hidden_size": 32, "intermediate_size": 64}))
    narrow.save_pretrained(root / "other-base")
    narrow = AutoModelForCausalLM.from_pretrained(root / "other-base")  # so the adapter records its base's path
    get_peft_model(narrow, lora).save_pretrained(root / "other")
    return root


def _broken_adapter(root: Path, name: str, config: str | None = None, drop: str | None = None,
                    weights: bytes | None = None) -> Path:
    import shutil

    folder = root / name
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(root / "fits", folder)
    if config is not None:
        (folder / "adapter_config.json").write_text(config)
    if drop:
        (folder / drop).unlink()
    if weights is not None:
        (folder / "adapter_model.safetensors").write_bytes(weights)
    return folder


ADAPTER_FAULTS = [
    pytest.param(lambda root: root / "other", AdapterError,
                 ["{tmp}/other does not fit", "{tmp}/other-base", "loaded model is {tmp}/base", "[4, 32]", "64"],
                 id="adapter-for-another-base-model"),
    pytest.param(lambda root: _broken_adapter(root, "no-weights", drop="adapter_model.safetensors"), AdapterError,
                 ["no adapter weights (adapter_model.safetensors/.bin) in {tmp}/no-weights"], id="no-weights"),
    pytest.param(lambda root: _broken_adapter(root, "empty-config", config=""), AdapterError,
                 ["{tmp}/empty-config/adapter_config.json", "empty file"], id="empty-adapter-config"),
    pytest.param(lambda root: _broken_adapter(root, "brace-config", config="{}"), AdapterError,
                 ["{tmp}/brace-config/adapter_config.json", "no 'peft_type'"], id="adapter-config-without-peft_type"),
    pytest.param(lambda root: _broken_adapter(root, "bad-json", config='{"peft_type": "LORA",\n "r": }'),
                 AdapterError, ["{tmp}/bad-json/adapter_config.json:2", "not valid JSON"], id="invalid-adapter-config"),
    pytest.param(lambda root: _broken_adapter(root, "list-config", config="[1, 2]"), AdapterError,
                 ["{tmp}/list-config/adapter_config.json", "expected a JSON object"], id="adapter-config-a-list"),
    pytest.param(lambda root: _broken_adapter(root, "foreign", config='{"peft_type": "MAGIC"}'), AdapterError,
                 ["{tmp}/foreign/adapter_config.json", "unknown peft_type 'MAGIC'"], id="unknown-peft_type"),
    pytest.param(lambda root: _broken_adapter(root, "torn-weights", weights=b"\x08\x00\x00"), AdapterError,
                 ["{tmp}/torn-weights/adapter_model.safetensors", "unreadable adapter weights"],
                 id="truncated-weights"),
    pytest.param(lambda root: root / "nowhere", ModelNotFoundError, ["no PEFT adapter at {tmp}/nowhere"],
                 id="missing-adapter-folder"),
]


@pytest.mark.parametrize("make, exc, needles", ADAPTER_FAULTS)
def test_bad_adapter_is_one_line_naming_folder_and_models(adapters, make, exc, needles):
    import torch

    from helpers.models import load_model

    with pytest.raises(exc) as excinfo:
        load_model(str(adapters / "base"), adapter=make(adapters), dtype=torch.float32, dev="cpu")
    assert_one_clear_line(excinfo, exc, needles, adapters)


def test_a_fitting_adapter_still_loads(adapters):
    import torch

    from helpers.models import load_model

    model, _ = load_model(str(adapters / "base"), adapter=adapters / "fits", dtype=torch.float32, dev="cpu")
    assert model is not None


# ----------------------------------------------------------------------------- Session B and C parameters


def _defaults(notebook: str) -> dict:
    from helpers.workbook import notebook_parameters, notebook_path

    return notebook_parameters(notebook_path(notebook))


@pytest.mark.parametrize("notebook", ["02_preferences_and_dpo", "03_three_way_eval"])
def test_the_defaults_and_every_profile_pass_the_notebook_checks(notebook):
    from helpers.workbook import load_profiles

    sessions.check_parameters(notebook, _defaults(notebook))
    for params in load_profiles().values():
        sessions.check_parameters(notebook, {**_defaults(notebook), **params.get(notebook, {})})


@pytest.mark.parametrize("notebook, name, value, needle", [
    pytest.param("02_preferences_and_dpo", "n_pref_prompts", -1, "n_pref_prompts must be an integer >= 1, got -1",
                 id="n_pref_prompts=-1"),
    pytest.param("02_preferences_and_dpo", "sample_temperatures", [0.7], "sample_temperatures must be a list of at "
                 "least 2 positive numbers", id="one-temperature"),
    pytest.param("02_preferences_and_dpo", "pair_strategy", "best", "pair_strategy must be one of", id="bad-strategy"),
    pytest.param("02_preferences_and_dpo", "judge", "gpt", "judge must be one of 'auto', 'rubric', 'claude', got 'gpt'",
                 id="bad-judge"),
    pytest.param("02_preferences_and_dpo", "val_fraction", 1.0, "val_fraction must be a number in [0, 1), got 1.0",
                 id="val_fraction=1"),
    pytest.param("02_preferences_and_dpo", "max_steps", 0, "max_steps must be -1 (run the epochs) or an integer",
                 id="max_steps=0"),
    pytest.param("02_preferences_and_dpo", "compare_recipes", "yes", "compare_recipes must be True or False",
                 id="compare_recipes=yes"),
    pytest.param("02_preferences_and_dpo", "beta", 0, "beta must be a positive number, got 0", id="beta=0"),
    pytest.param("03_three_way_eval", "n_eval", 0, "n_eval must be an integer >= 1, got 0", id="n_eval=0"),
    pytest.param("03_three_way_eval", "n_bootstrap", 10, "n_bootstrap must be an integer >= 100, got 10",
                 id="n_bootstrap=10"),
])
def test_a_bad_session_parameter_is_one_line_naming_it(notebook, name, value, needle):
    from helpers.checks import ParameterError

    with pytest.raises(ParameterError) as err:
        sessions.check_parameters(notebook, {**_defaults(notebook), name: value})
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_the_sweep_names_a_missing_preferences_file(tmp_path):
    from helpers.training.sweep import run_sweep_from_config

    config = _write(tmp_path, "sweep.yaml", yaml.safe_dump({"preferences": str(tmp_path / "gone.jsonl"),
                                                             "dpo": {}, "variants": {}, "out_dir": str(tmp_path)}))
    with pytest.raises(FileNotFoundError) as err:
        run_sweep_from_config(config)
    assert str(tmp_path / "gone.jsonl") in str(err.value) and "\n" not in str(err.value)
