"""Faults of staleness: Session C served results of a model, a report or a run that is no longer the one asked for.

Each case does what a real week does (retrain the DPO adapter into the same folder, edit a report in place, change
the generation settings or the machine, re-run Session B and see it fail) and checks that Session C's caches and its
choice of adapters follow the content, not the path: a changed input is computed again, an unchanged one is reused,
and adapters recorded by a Session B that did not finish are refused in one line.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import evaluation as ev
from helpers import severity_probs as sp
from helpers import task
from helpers.cache import adapter_digest
from helpers.evaluation import answers
from helpers.task import load_split
from tests.conftest import fake_adapter_dir

EXAMPLES = load_split("eval")[:3]
REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- the caches


@pytest.fixture
def fake_models(monkeypatch):
    """No model runs: loading returns placeholders, answers and probabilities are made up and each call is counted
    (the reports it was asked about), so a test sees exactly what the caches computed again."""
    calls, runs = [], itertools.count(1)

    def fake_answers(model, tokenizer, reports, **kwargs):
        calls.append(list(reports))
        run = next(runs)
        return [f"answer {run} to {r[:30]}" for r in reports]

    def fake_probs(model, tokenizer, reports, **kwargs):
        calls.append(list(reports))
        rng = np.random.default_rng(next(runs))
        p = rng.random((len(reports), 4))
        return p / p.sum(1, keepdims=True)

    for module in (answers, sp):
        monkeypatch.setattr(module, "load_model", lambda *a, **k: (object(), object()))
        monkeypatch.setattr(module, "release_memory", lambda: None)
    monkeypatch.setattr(answers, "answer_reports", fake_answers)
    monkeypatch.setattr(sp, "severity_probabilities", fake_probs)
    return calls


def _cached(kind, base, adapter, examples, cache_dir, **settings):
    if kind == "answers":
        return ev.cached_answers("SFT+DPO", str(base), adapter, examples, cache_dir, **settings)
    return sp.cached_severity_probabilities("SFT+DPO", str(base), adapter, examples, cache_dir, **settings).tolist()


def _retrain_in_place(ctx):
    """New weights saved into the same adapter folder (what a second DPO run with the same output_dir does)."""
    from safetensors.torch import load_file, save_file

    weights = ctx["adapter"] / "adapter_model.safetensors"
    save_file({k: v * 1.5 for k, v in load_file(weights).items()}, weights)


def _copy_adapter(ctx):
    ctx["adapter"] = Path(shutil.copytree(ctx["adapter"], ctx["tmp"] / "dpo_copy"))


def _edit_base_config(ctx):
    config = ctx["base"] / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "rms_norm_eps": 1e-3}))


def _edit_report(ctx):
    ctx["examples"] = [EXAMPLES[0], {**EXAMPLES[1], "report": EXAMPLES[1]["report"] + " Update: resolved."},
                       EXAMPLES[2]]


def _set(**settings):
    return lambda ctx: ctx["settings"].update(settings)


def _patch(name, value, module=None):
    """Replace `name` in `module` (default: the module whose cache is tested); raising=False, since before the fix
    the name was not looked up there at all (the case then fails on the cache hit, as it should)."""
    def apply(ctx):
        target = module or {"answers": answers, "severity": sp}[ctx["kind"]]
        ctx["monkeypatch"].setattr(target, name, value, raising=False)
    return apply


KINDS = ("answers", "severity")
# (what happens between the two runs, what the second run must compute again: "all", "none" or one report)
CHANGES = [
    ("same-inputs", lambda ctx: None, "none"),
    ("adapter-retrained-into-the-same-folder", _retrain_in_place, "all"),
    ("same-weights-in-another-folder", _copy_adapter, "none"),
    ("base-model-config-edited", _edit_base_config, "all"),
    ("report-edited-in-place", _edit_report, "one"),
    ("batch-size-changed", _set(batch_size=4), "all"),
    ("dtype-changed", _patch("model_dtype", lambda *a, **k: torch.float16), "all"),
    ("device-changed", _patch("device", lambda *a, **k: torch.device("cuda")), "all"),
    ("system-prompt-edited", _patch("SYSTEM_PROMPT", task.SYSTEM_PROMPT + " Be brief.", task), "all"),
]
CASES = [pytest.param(kind, change, recompute, id=f"{kind}-{name}")
         for kind in KINDS for name, change, recompute in CHANGES]
CASES.append(pytest.param("answers", _set(max_new_tokens=12), "all", id="answers-max-new-tokens-changed"))


@pytest.mark.parametrize(("kind", "change", "recompute"), CASES)
def test_caches_follow_the_content_not_the_path(kind, change, recompute, tiny_sft, tmp_path, monkeypatch, fake_models):
    base, sft = tiny_sft
    ctx = {"kind": kind, "tmp": tmp_path, "monkeypatch": monkeypatch, "examples": list(EXAMPLES), "settings": {},
           "base": Path(shutil.copytree(base, tmp_path / "base")),
           "adapter": Path(shutil.copytree(sft, tmp_path / "dpo"))}
    cache_dir = tmp_path / "generations"
    first = _cached(kind, ctx["base"], ctx["adapter"], ctx["examples"], cache_dir)
    assert fake_models == [[e["report"] for e in EXAMPLES]]
    fake_models.clear()

    change(ctx)
    again = _cached(kind, ctx["base"], ctx["adapter"], ctx["examples"], cache_dir, **ctx["settings"])
    if recompute == "none":
        assert fake_models == [] and again == first  # reuse still works: no model run
    elif recompute == "one":
        assert fake_models == [[ctx["examples"][1]["report"]]]  # only the edited report
        assert again[0] == first[0] and again[2] == first[2] and again[1] != first[1]
    else:
        assert fake_models == [[e["report"] for e in ctx["examples"]]]  # nothing stale served
        assert all(a != f for a, f in zip(again, first, strict=True))
    # and a third run with the same inputs reuses the second's results
    fake_models.clear()
    assert _cached(kind, ctx["base"], ctx["adapter"], ctx["examples"], cache_dir, **ctx["settings"]) == again
    assert fake_models == []


def test_session_c_names_the_weights_it_evaluates(tiny_sft, tmp_path, capsys):
    base, sft = tiny_sft
    dpo = Path(shutil.copytree(sft, tmp_path / "dpo"))
    digests = ev.model_digests(str(base), {"Base": None, "SFT": sft, "SFT+DPO": dpo})
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and list(digests) == ["Base", "SFT", "SFT+DPO"]
    for line, (label, path) in zip(lines, (("Base", base), ("SFT", sft), ("SFT+DPO", dpo)), strict=True):
        assert line.startswith(f"{label}: ") and str(path) in line and digests[label]["digest"] in line
    assert digests["SFT"]["digest"] == adapter_digest(sft) and digests["SFT"]["path"] == str(sft)
    json.dumps(digests)  # goes into the metrics as it is


def test_session_c_records_the_digests_in_its_metrics():
    cells = json.loads((REPO / "notebooks" / "03_three_way_eval.ipynb").read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "ev.model_digests(" in code
    assert re.search(r'save_metrics\(run_dir, "03_three_way_eval", \{[^}]*"models": models_used', code, re.S)


# ----------------------------------------------------------------------------- Session B's adapters


def _fake_adapter(folder: Path) -> str:
    return str(fake_adapter_dir(folder))


def _run_folder(tmp_path, status, metrics_after_record=False):
    """A run folder whose run.json records Session B as `status` (None: no run.json; "-": no entry for Session B),
    with Session B's metrics written before that record (an earlier run) or after it (a re-run by hand)."""
    run = tmp_path / "run"
    run.mkdir()
    metrics = run / "02_preferences_and_dpo.metrics.json"
    metrics.write_text(json.dumps({"sft_adapter": _fake_adapter(tmp_path / "old_sft"),
                                   "dpo_adapter": _fake_adapter(tmp_path / "old_dpo")}))
    if status is not None:
        entry = {} if status == "-" else {"02_preferences_and_dpo": {"parameters": {}, "status": status}}
        record = run / "run.json"
        record.write_text(json.dumps({"run_id": "run", "notebooks": {"01_sft": {"status": "ok"}, **entry}}))
        older, newer = (record, metrics) if metrics_after_record else (metrics, record)
        os.utime(older, (1_700_000_000, 1_700_000_000))
        os.utime(newer, (1_700_000_100, 1_700_000_100))
    return run


REFUSED = [
    pytest.param("failed", {}, id="failed"),
    pytest.param("running", {}, id="running-or-killed"),
    pytest.param("interrupted", {}, id="interrupted"),
    pytest.param("failed", {"sft_adapter": "by_hand_sft"}, id="failed-only-sft-by-hand"),
    pytest.param("running", {"dpo_adapter": "by_hand_dpo"}, id="running-only-dpo-by-hand"),
]


@pytest.mark.parametrize(("status", "by_hand"), REFUSED)
def test_adapters_of_an_unfinished_session_b_are_refused(status, by_hand, tmp_path):
    run = _run_folder(tmp_path, status)
    given = {k: _fake_adapter(tmp_path / v) for k, v in by_hand.items()}
    with pytest.raises(RuntimeError) as err:
        ev.resolve_adapters(run, **given)
    message = str(err.value)
    assert "\n" not in message and str(run) in message and repr(status) in message
    assert "re-run" in message and "sft_adapter" in message and "dpo_adapter" in message


ACCEPTED = [
    pytest.param("ok", {}, False, id="ok"),
    pytest.param(None, {}, False, id="no-run-json-interactive"),
    pytest.param("-", {}, False, id="session-b-not-run-by-the-runner"),
    pytest.param("failed", {}, True, id="failed-then-re-run-by-hand"),
    pytest.param("failed", {"sft_adapter": "by_hand_sft", "dpo_adapter": "by_hand_dpo"}, False,
                 id="failed-both-by-hand"),
]


@pytest.mark.parametrize(("status", "by_hand", "rerun"), ACCEPTED)
def test_adapters_of_a_finished_session_b_or_given_by_hand_are_used(status, by_hand, rerun, tmp_path):
    run = _run_folder(tmp_path, status, metrics_after_record=rerun)
    given = {k: _fake_adapter(tmp_path / v) for k, v in by_hand.items()}
    sft, dpo = ev.resolve_adapters(run, **given)
    assert sft == Path(given.get("sft_adapter", tmp_path / "old_sft")).resolve()
    assert dpo == Path(given.get("dpo_adapter", tmp_path / "old_dpo")).resolve()
