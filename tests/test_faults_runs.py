"""Fault injection, runs: what the runner records in runs/<id>/run.json survives two runners on one run, Ctrl-C,
SIGTERM and a dead kernel; a broken profiles.yaml, a path parameter of the wrong type and a run_dir that is a file
are each ONE line naming the cause, before any work.

Table-driven: one row per fault. papermill's execute_notebook is replaced by a fake that raises what a real run
would (KeyboardInterrupt, nbclient's DeadKernelError, a real SIGTERM to this process), so no kernel starts except in
the one test that checks a notebook's own first cell.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import threading
import time
from pathlib import Path

import papermill
import pytest
from nbclient.exceptions import DeadKernelError

from helpers import checks, paths, profiles, sessions, workbook
from tests.test_faults_inputs import _defaults

A, B, C = workbook.NOTEBOOKS


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """The runner writing into tmp_path/runs, with no kernel check and no device probe: returns that folder."""
    runs_dir = tmp_path / "runs"
    monkeypatch.setattr(workbook, "RUNS_DIR", runs_dir)
    monkeypatch.setattr(workbook, "run", functools.partial(workbook.run, runs_dir=runs_dir))
    monkeypatch.setattr(workbook, "check_kernel", lambda kernel=workbook.KERNEL: None)
    monkeypatch.setattr(workbook, "precision_used", lambda: {"name": "fp32", "reason": "test", "device": "cpu"})
    return runs_dir


def _record(runs_dir: Path, run_id: str) -> dict:
    return json.loads((runs_dir / run_id / "run.json").read_text())


def _executed(output_path: str, running_cell: int | None = None) -> None:
    """What papermill leaves at the output path: here one cell that was running (execution count `running_cell`)."""
    cell = {"cell_type": "code", "execution_count": running_cell, "outputs": [], "source": "x = 1",
            "metadata": {"papermill": {"status": "running" if running_cell else "completed",
                                       "start_time": "2025-01-01T00:00:00" if running_cell else None}}}
    Path(output_path).write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


# ----------------------------------------------------------------------------- two runners on one run id


RUNNER_PAIRS = [
    pytest.param((A,), (B,), {}, id="A-and-B"),
    pytest.param((B,), (C,), {}, id="B-and-C"),
    pytest.param((A,), (B, C), {}, id="A-and-B-then-C"),
    pytest.param((B,), (C,), {A: {"status": "ok", "wall_s": 1.0}}, id="B-and-C-after-an-earlier-A"),
]


@pytest.mark.parametrize("first, second, earlier", RUNNER_PAIRS)
def test_two_runners_on_one_run_id_keep_each_others_records(runs, monkeypatch, first, second, earlier):
    if earlier:
        (runs / "shared").mkdir(parents=True)
        (runs / "shared" / "run.json").write_text(json.dumps({"run_id": "shared", "notebooks": earlier}))
    barrier, local = threading.Barrier(2), threading.local()

    def execute(input_path, output_path, parameters=None, **kwargs):
        if not getattr(local, "waited", False):  # each runner's first notebook: both are running before either ends
            local.waited = True
            barrier.wait(timeout=60)
        time.sleep(0.05)
        _executed(output_path)

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    errors = []

    def runner(notebooks):
        try:
            workbook.run("smoke", "shared", notebooks, resume=True)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)
            barrier.abort()

    threads = [threading.Thread(target=runner, args=(nbs,)) for nbs in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    record = _record(runs, "shared")
    expected = set(first) | set(second) | set(earlier)
    assert set(record["notebooks"]) == expected, record["notebooks"]
    assert all(record["notebooks"][nb]["status"] == "ok" for nb in expected), record["notebooks"]
    assert "finished" in record
    assert not [p.name for p in (runs / "shared").iterdir() if p.name.endswith(".tmp")]  # no temporary file left


def test_a_record_update_replaces_the_file_whole_and_merges_what_is_there(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"run_id": "r", "notebooks": {A: {"status": "ok"}}}))
    record = workbook.update_record(path, {"run_id": "r", "profile": "smoke"}, {B: {"status": "running"}})
    assert record == json.loads(path.read_text())
    assert record["notebooks"] == {A: {"status": "ok"}, B: {"status": "running"}} and record["profile"] == "smoke"


# ----------------------------------------------------------------------------- Ctrl-C, SIGTERM, a dead kernel


class Killed(Exception):
    """What SIGTERM raises in these tests when the runner installs no handler of its own (else pytest would die)."""


def _sigterm(output_path):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)  # the handler raises here
    raise AssertionError("SIGTERM was ignored")


def _raise(exc):
    def fault(output_path):
        raise exc

    return fault


def _dies_in_cell(n):
    def fault(output_path):
        _executed(output_path, running_cell=n)
        raise DeadKernelError("Kernel died")

    return fault


INTERRUPTIONS = [
    pytest.param(_raise(KeyboardInterrupt()), (B, C), B, 130, ["notebooks/02_preferences_and_dpo.ipynb",
                 "interrupted", "python -m helpers.workbook", "--resume --run-id r1",
                 f"--notebooks {B} {C}"], id="ctrl-c"),
    pytest.param(_raise(KeyboardInterrupt()), (A, B), B, 130, ["notebooks/02_preferences_and_dpo.ipynb",
                 "--resume --run-id r1", f"--notebooks {B}"], id="ctrl-c-in-the-second-notebook"),
    pytest.param(_sigterm, (C,), C, 130, ["notebooks/03_three_way_eval.ipynb", "SIGTERM", "--resume --run-id r1"],
                 id="sigterm"),
    pytest.param(_raise(DeadKernelError("Kernel died")), (B, C), B, 1, ["notebooks/02_preferences_and_dpo.ipynb",
                 "kernel died", "out of memory", "--resume --run-id r1", f"--notebooks {B} {C}"], id="dead-kernel"),
    pytest.param(_dies_in_cell(7), (C,), C, 1, ["notebooks/03_three_way_eval.ipynb",
                 "kernel died in cell 1 of the executed notebook", "out of memory", "--resume --run-id r1"],
                 id="dead-kernel-names-the-cell"),
]


@pytest.mark.parametrize("fault, notebooks, stopped, code, needles", INTERRUPTIONS)
def test_an_interrupted_run_is_recorded_and_says_how_to_continue_in_one_line(runs, monkeypatch, capsys, fault,
                                                                             notebooks, stopped, code, needles):
    def execute(input_path, output_path, parameters=None, **kwargs):
        if Path(input_path).stem == stopped:
            fault(output_path)
        _executed(output_path)

    monkeypatch.setattr(papermill, "execute_notebook", execute)

    def killed(signum, frame):
        raise Killed

    previous = signal.signal(signal.SIGTERM, killed)
    try:
        try:
            result = workbook.main(["--profile", "smoke", "--run-id", "r1", "--notebooks", *notebooks])
        except (KeyboardInterrupt, Killed, Exception) as err:  # the runner let it escape
            result = err
        assert signal.getsignal(signal.SIGTERM) is killed  # the runner put back the handler it found
    finally:
        signal.signal(signal.SIGTERM, previous)
    err = capsys.readouterr().err.strip()
    assert result == code, f"{result!r}: {err}"
    assert err and "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    record = _record(runs, "r1")
    assert record["notebooks"][stopped]["status"] == "interrupted" and record["notebooks"][stopped]["reason"]
    for name in notebooks[:notebooks.index(stopped)]:
        assert record["notebooks"][name]["status"] == "ok"
    assert "finished" not in record


# ----------------------------------------------------------------------------- a broken profiles.yaml


YAML_FAULTS = [
    pytest.param(f"smoke:\n  {A}:\n    pair_counts: [100, 4000\n  {B}: {{}}\n",
                 ["profiles.yaml:4:25", "expected ',' or ']'", "flow sequence that starts at line 3"],
                 id="unclosed-list"),
    pytest.param(f"smoke:\n\t{A}: {{}}\n", ["profiles.yaml:2:1", "found character '\\t'"], id="tab-indent"),
    pytest.param(f"smoke:\n  {A}:\n    beta: 1\n   n_pairs: 2\n", ["profiles.yaml:4:4", "expected <block end>"],
                 id="bad-indent"),
    pytest.param(f"smoke:\n  {A}:\n    model_name: \"smol\n", ["profiles.yaml:4:1", "unexpected end of stream",
                 "quoted scalar"], id="unclosed-quote"),
    pytest.param(f"smoke:\n  {A}: [beta, 1]\n", ["profiles.yaml", "'smoke'", A, "mapping"],
                 id="parameters-not-a-mapping"),
    pytest.param("smoke: [1, 2]\n", ["profiles.yaml", "'smoke'", "mapping"], id="profile-not-a-mapping"),
]


@pytest.mark.parametrize("text, needles", YAML_FAULTS)
def test_a_broken_profiles_file_is_one_line_naming_file_line_and_problem(tmp_path, monkeypatch, capsys, text,
                                                                         needles):
    path = tmp_path / "profiles.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as excinfo:
        workbook.load_profiles(path)
    message = str(excinfo.value)
    assert "\n" not in message and all(n in message for n in needles), message
    monkeypatch.setattr(profiles, "PROFILES_FILE", path)  # and the runner says the same, in one line
    assert workbook.main(["--check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and all(n in err for n in needles), err


# ----------------------------------------------------------------------------- path and text parameters


def _string_parameters():
    for notebook in workbook.NOTEBOOKS:
        for name, default in workbook.notebook_parameters(workbook.notebook_path(notebook)).items():
            if isinstance(default, str):
                yield pytest.param(notebook, name, id=f"{notebook[:2]}-{name}=5")


@pytest.mark.parametrize("notebook, name", list(_string_parameters()))
def test_every_string_parameter_of_a_notebook_is_checked_for_its_type(notebook, name):
    with pytest.raises(checks.ParameterError) as excinfo:
        sessions.check_parameters(notebook, {**_defaults(notebook), name: 5})
    message = str(excinfo.value)
    assert message.startswith(f"{name} must be ") and message.endswith("got 5") and "\n" not in message


BAD_STRINGS = [
    pytest.param(B, "sft_adapter", 5, "sft_adapter must be a path (a string), got 5", id="B-sft_adapter=5"),
    pytest.param(C, "sft_adapter", None, "sft_adapter must be a path (a string), got None", id="C-sft_adapter=None"),
    pytest.param(C, "dpo_adapter", ["a"], "dpo_adapter must be a path (a string), got ['a']", id="C-dpo_adapter=list"),
    pytest.param(C, "notes_dir", True, "notes_dir must be a path (a string), got True", id="C-notes_dir=True"),
    pytest.param(B, "run_dir", 1, "run_dir must be a path (a string), got 1", id="B-run_dir=1"),
    pytest.param(B, "judge_model", "", "judge_model must be a non-empty string, got ''", id="B-judge_model-empty"),
    pytest.param(A, "model_name", 3, "model_name must be a non-empty string, got 3", id="A-model_name=3"),
    pytest.param(C, "model_name", " ", "model_name must be a non-empty string, got ' '", id="C-model_name-blank"),
    pytest.param(B, "version_tag", 0.3, "version_tag must be a non-empty string, got 0.3", id="B-version_tag=0.3"),
    pytest.param(B, "report_to", False, "report_to must be a non-empty string, got False", id="B-report_to=False"),
]


@pytest.mark.parametrize("notebook, name, value, needle", BAD_STRINGS)
def test_a_path_or_text_parameter_of_the_wrong_type_is_one_line(notebook, name, value, needle):
    with pytest.raises(checks.ParameterError) as excinfo:
        sessions.check_parameters(notebook, {**_defaults(notebook), name: value})
    assert needle in str(excinfo.value) and "\n" not in str(excinfo.value)


@pytest.mark.parametrize("notebook", workbook.NOTEBOOKS)
def test_the_defaults_every_profile_and_path_objects_pass(notebook, tmp_path):
    sessions.check_parameters(notebook, _defaults(notebook))
    for params in workbook.load_profiles().values():
        sessions.check_parameters(notebook, {**_defaults(notebook), **(params.get(notebook) or {}),
                                             "run_dir": str(tmp_path), "profile": "smoke"})
    sessions.check_parameters(notebook, {**_defaults(notebook), "run_dir": tmp_path})


def test_a_profile_with_a_wrong_typed_path_stops_the_runner_before_it_starts(tmp_path, monkeypatch):
    path = tmp_path / "profiles.yaml"
    path.write_text(f"broken:\n  {B}:\n    sft_adapter: 5\n")
    monkeypatch.setattr(profiles, "PROFILES_FILE", path)
    with pytest.raises(ValueError) as excinfo:
        workbook.checked_plan("broken", workbook.NOTEBOOKS, {})
    assert "sft_adapter must be a path (a string), got 5" in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_plain_papermill_with_a_number_for_an_adapter_stops_in_the_first_check_cell(tmp_path):
    """A real kernel: `papermill ... -p sft_adapter 5` names the parameter, not a TypeError deep inside."""
    with pytest.raises(papermill.PapermillExecutionError) as excinfo:
        papermill.execute_notebook(str(workbook.notebook_path(C)), str(tmp_path / "out.ipynb"),
                                   parameters={"sft_adapter": 5, "run_dir": str(tmp_path / "run")},
                                   kernel_name=workbook.KERNEL, cwd=str(paths.REPO_ROOT), progress_bar=False,
                                   extra_arguments=["--IPKernelApp.log_level=ERROR"])
    assert excinfo.value.ename == "ParameterError"
    assert "sft_adapter must be a path (a string), got 5" in excinfo.value.evalue
    assert not (tmp_path / "run").exists()  # before any work: not even the run folder


# ----------------------------------------------------------------------------- run_dir that is a file


def _file(tmp: Path) -> Path:
    path = tmp / "results.txt"
    path.write_text("notes\n")
    return path


RUN_DIR_FAULTS = [
    pytest.param(lambda tmp: paths.resolve_run_dir(_file(tmp)), id="a-file"),
    pytest.param(lambda tmp: paths.resolve_run_dir(str(_file(tmp)), C), id="a-file-from-a-notebook"),
    pytest.param(lambda tmp: paths.resolve_run_dir(str(_file(tmp) / "sub")), id="a-folder-under-a-file"),
    pytest.param(lambda tmp: paths.save_metrics(_file(tmp), A, {"x": 1}), id="metrics-into-a-file"),
]


@pytest.mark.parametrize("fault", RUN_DIR_FAULTS)
def test_a_run_dir_that_is_a_file_is_one_line_naming_it_and_the_fix(tmp_path, fault):
    with pytest.raises((NotADirectoryError, checks.ParameterError)) as excinfo:
        fault(tmp_path)
    message = str(excinfo.value)
    assert "\n" not in message, message
    for needle in ("run_dir", str(tmp_path / "results.txt"), "is a file", "set run_dir to a folder"):
        assert needle in message, f"{needle!r} not in {message!r}"
    assert (tmp_path / "results.txt").read_text() == "notes\n"


def test_a_kernel_that_really_dies_is_recorded_as_interrupted(runs, tmp_path, monkeypatch, capsys):
    """A real kernel that exits in its third cell (after papermill's injected one), as the out-of-memory killer
    would end it: nbclient's own DeadKernelError reaches the runner, which records it and says how to continue,
    in one line."""
    source = json.loads(workbook.notebook_path(A).read_text())
    parameters = next(c for c in source["cells"] if "parameters" in c["metadata"].get("tags", []))
    dying = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "id": "dies",
             "source": "import os\nos._exit(9)"}
    notebook = tmp_path / f"{A}.ipynb"
    notebook.write_text(json.dumps({**source, "cells": [parameters, dying]}))
    real = workbook.notebook_path
    monkeypatch.setattr(workbook, "notebook_path", lambda name: notebook if name == A else real(name))
    code = workbook.main(["--profile", "smoke", "--run-id", "dies", "--notebooks", A])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err, err
    assert "kernel died in cell 3 of the executed notebook" in err[-1] and "--resume --run-id dies" in err[-1]
    assert "Traceback" not in "\n".join(err)
    entry = _record(runs, "dies")["notebooks"][A]
    assert entry["status"] == "interrupted" and "out of memory" in entry["reason"]


@pytest.mark.parametrize("command", ["dpo", "sweep"])
def test_a_cli_config_reads_its_paths_from_the_repository_root_wherever_it_runs(tmp_path, monkeypatch, command):
    """The shipped configs say their paths are relative to the repository root: so they are, from any folder."""
    import yaml

    from helpers.training import cli, sweep
    from tests.conftest import fake_adapter_dir
    from tests.test_faults_inputs import TRIPLE

    fake_adapter_dir(tmp_path / "sft")
    (tmp_path / "prefs.jsonl").write_text("".join(json.dumps(TRIPLE) + "\n" for _ in range(4)))
    rel = os.path.relpath(tmp_path, paths.REPO_ROOT)  # the same files, named from the repository root
    spec = {"preferences": f"{rel}/prefs.jsonl", "out_dir": f"{rel}/out", "kl_prompts_from_eval": 0,
            "dpo": {"sft_adapter": f"{rel}/sft", "checkpoint_dir": f"{rel}/ckpt"}}
    config = tmp_path / "dpo.yaml"
    config.write_text(yaml.safe_dump(spec))
    elsewhere = tmp_path / "elsewhere" / "deeper"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    if command == "dpo":
        run = cli.prepare_run(config)
        assert len(run.train) == 4 and run.out_dir == str(tmp_path / "out")
        assert run.config.sft_adapter == str(tmp_path / "sft") and run.config.checkpoint_dir == str(tmp_path / "ckpt")
    else:
        class Read(Exception):
            pass

        def read(prefs, _config):
            raise Read(prefs)

        monkeypatch.setattr(sweep, "read_preferences", read)
        with pytest.raises(Read) as read_from:
            sweep.run_sweep_from_config(config)
        assert read_from.value.args[0] == tmp_path / "prefs.jsonl"
