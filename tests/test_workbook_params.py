"""The learner's own parameters through the runner (-p NAME VALUE, PARAMS=...), checked before anything runs,
and paths typed relative to the repository root wherever the kernel starts."""

from __future__ import annotations

import functools
import json

import pytest

from helpers import paths, profiles, progress, workbook


def test_overrides_are_typed_like_papermill_and_go_only_to_the_notebooks_that_define_them(tmp_path):
    overrides = workbook.overrides_from_args([("beta", "0.2"), ("seed", "3")], "sft_adapter=runs/x n_eval=8")
    assert overrides == {"beta": 0.2, "seed": 3, "sft_adapter": "runs/x", "n_eval": 8}
    workbook.check_overrides(overrides)
    b = workbook.parameters_for("smoke", "02_preferences_and_dpo", tmp_path, overrides=overrides)
    c = workbook.parameters_for("smoke", "03_three_way_eval", tmp_path, overrides=overrides)
    assert b["beta"] == 0.2 and b["sft_adapter"] == "runs/x" and "n_eval" not in b
    assert c["n_eval"] == 8 and "beta" not in c and c["seed"] == 3
    # e-notation is a number, as a learner means it (YAML 1.1 alone reads 3e-4 as the string "3e-4")
    assert workbook.overrides_from_args([("learning_rate", "3e-4")], "beta=1E-1") == {"learning_rate": 3e-4,
                                                                                      "beta": 0.1}
    assert workbook.overrides_from_args([("version_tag", "v3e-4")]) == {"version_tag": "v3e-4"}


@pytest.mark.parametrize("args, needle", [
    pytest.param(["-p", "bta", "0.2"], "-p bta: no such parameter", id="misspelled-name"),
    pytest.param(["-p", "n_responses", "0"], "n_responses must be an integer >= 2, got 0", id="n_responses=0"),
    pytest.param(["-p", "beta", "high"], "-p beta 'high': expected type float", id="wrong-type"),
    pytest.param(["-p", "run_dir", "x"], "-p run_dir: set by the runner", id="injected"),
    pytest.param(["--params", "beta"], "PARAMS entry 'beta': expected NAME=VALUE", id="params-without-value"),
    pytest.param(["--profile", "smokey"], "unknown profile 'smokey'", id="unknown-profile"),
    pytest.param(["-p", "n_pref_prompts", "-1"], "n_pref_prompts must be an integer >= 1, got -1", id="range-in-B"),
])
def test_a_bad_parameter_stops_the_runner_at_once_with_one_line(args, needle, capsys):
    def runs():
        return set(workbook.RUNS_DIR.iterdir()) if workbook.RUNS_DIR.exists() else set()

    before = runs()
    assert workbook.main(["--profile", "smoke", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and err.startswith("error: ")
    assert runs() == before  # nothing ran: no run folder was made


def test_the_misspelled_name_error_lists_the_known_ones():
    with pytest.raises(ValueError, match="known: .*beta.*sft_adapter"):
        workbook.check_overrides({"bta": 0.2})


def test_relative_paths_resolve_from_the_repository_root_wherever_the_kernel_starts(tiny_sft, monkeypatch):
    from helpers.training import resolve_sft_adapter

    monkeypatch.chdir(paths.NOTEBOOK_DIR)  # where JupyterLab starts a kernel
    assert paths.repo_path("runs/x") == paths.REPO_ROOT / "runs" / "x"
    _, sft = tiny_sft
    assert resolve_sft_adapter(str(sft), []) == sft.resolve()  # absolute stays absolute
    with pytest.raises(Exception, match=str(paths.REPO_ROOT / "no" / "such")):
        resolve_sft_adapter("no/such", [])


def test_notebooks_hide_library_deprecation_notes_but_not_other_warnings():
    import warnings

    def emitted(message, category):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            progress.quiet_dependency_warnings()
            warnings.warn(message, category, stacklevel=1)
        return len(caught)

    assert emitted("`gradient_checkpointing_enable` is deprecated and will be removed in v6", FutureWarning) == 0
    assert emitted("IProgress not found. Please update jupyter and ipywidgets.", UserWarning) == 0
    assert emitted("KL(pi_theta || pi_ref) = 7.1 nats at step 10 exceeds 5.0", UserWarning) == 1
    with warnings.catch_warnings(record=True) as caught:  # and nothing is filtered until a notebook asks
        warnings.simplefilter("always")
        warnings.warn("`x` is deprecated and will be removed in v6", FutureWarning, stacklevel=1)
    assert len(caught) == 1


def test_lab_and_plain_papermill_write_to_different_default_folders_and_a_replacement_is_announced(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    plain = paths.resolve_run_dir("", "03_three_way_eval")
    assert plain == tmp_path / "runs" / "papermill" and plain.is_dir()
    assert capsys.readouterr().out.strip() == f"run folder: {plain}"
    paths.save_metrics(plain, "03_three_way_eval", {"x": 1})
    paths.resolve_run_dir("", "03_three_way_eval")
    out = capsys.readouterr().out
    assert "holds this notebook's results from" in out and "which this run replaces" in out
    monkeypatch.setenv("JPY_SESSION_NAME", "/repo/notebooks/03_three_way_eval.ipynb")  # a kernel Lab started
    assert paths.resolve_run_dir("") == tmp_path / "runs" / "interactive"
    assert paths.resolve_run_dir(str(tmp_path / "mine")) == tmp_path / "mine"


def test_progress_bars_are_widgets_only_in_a_lab_kernel(monkeypatch):
    from tqdm import tqdm as text_tqdm

    from helpers import progress

    monkeypatch.setenv("JPY_SESSION_NAME", "x.ipynb")
    assert not progress.widgets_available()  # no IPython kernel here (pytest): text bars
    with progress.tqdm(range(2), disable=True) as bar:
        assert type(bar) is text_tqdm
    import IPython

    class Kernel:
        config = {"IPKernelApp": {}}

    monkeypatch.setattr(IPython, "get_ipython", lambda: Kernel())
    assert progress.widgets_available()
    monkeypatch.setenv("WORKBOOK_PROGRESS", "text")
    assert not progress.widgets_available()
    monkeypatch.delenv("WORKBOOK_PROGRESS")
    monkeypatch.delenv("JPY_SESSION_NAME")
    assert not progress.widgets_available()  # papermill's kernel


def test_a_failing_cell_stops_the_runner_with_its_message_not_a_traceback_wall(tmp_path, monkeypatch, capsys):
    """A real kernel: Session C given an adapter path that does not exist fails in its setup cell."""
    monkeypatch.setattr(workbook, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(workbook, "run", functools.partial(workbook.run, runs_dir=tmp_path / "runs"))
    code = workbook.main(["--profile", "smoke", "--notebooks", "03_three_way_eval", "-p", "sft_adapter", "no/such"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err and "Traceback" not in err
    assert err.startswith("error: notebooks/03_three_way_eval.ipynb stopped in cell [") and "FileNotFoundError" in err
    executed = next((tmp_path / "runs").glob("*-smoke/03_three_way_eval.ipynb"))
    assert str(executed) in err and "FileNotFoundError" in executed.read_text()
    record = json.loads((executed.parent / "run.json").read_text())
    assert record["notebooks"]["03_three_way_eval"]["status"] == "failed"


def test_the_runner_checks_the_reference_answers_unless_told_otherwise(tmp_path, monkeypatch):
    """Under the runner `exercises = "reference"` (so CI and the profiles stay green), in every notebook that has
    the parameter; `-p exercises learner` checks the answers saved in the notebooks instead."""
    real = profiles.notebook_parameters

    def with_exercises(path):
        return {**real(path), "exercises": "learner"}

    monkeypatch.setattr(profiles, "notebook_parameters", with_exercises)
    for name in workbook.NOTEBOOKS:
        params = workbook.parameters_for("smoke", name, tmp_path)
        assert params["exercises"] == "reference" and params["profile"] == "smoke"
    overrides = workbook.check_overrides({"exercises": "learner"})
    assert workbook.parameters_for("quick", "01_dpo_math", tmp_path, overrides=overrides)["exercises"] == "learner"
    monkeypatch.setattr(profiles, "notebook_parameters", real)  # a notebook without exercises gets no stray name
    if "exercises" not in real(workbook.notebook_path("01_dpo_math")):
        assert "exercises" not in workbook.parameters_for("smoke", "01_dpo_math", tmp_path)
