"""Time per phase: read from an executed notebook's tagged cells (helpers.phases), and recorded by the runner in
run.json per notebook and summed over the run, on hand-made notebooks (papermill is replaced by a fake that writes
one, so no kernel starts)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import papermill
import pytest

from helpers import phases, workbook
from helpers.profiles import notebook_path

A, B, C = workbook.NOTEBOOKS


def _cell(tags=(), duration=None, cell_type="code") -> dict:
    meta = {"tags": list(tags)}
    if duration is not None:
        meta["papermill"] = {"duration": duration, "status": "completed"}
    return {"cell_type": cell_type, "execution_count": None, "metadata": meta, "outputs": [], "source": "x = 1"}


def _notebook(path: Path, cells) -> Path:
    path.write_text(json.dumps({"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


# ----------------------------------------------------------------------------- reading one notebook


def test_tagged_cells_sum_per_phase_and_the_rest_is_other(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb", [
        _cell(["parameters"], 0.01), _cell(duration=0.5, cell_type="markdown"),
        _cell(["phase:sft"], 100.0), _cell(["phase:sampling"], 30.0), _cell(["phase:sampling"], 2.5),
        _cell(["phase:dpo", "other-tag"], 600.04), _cell(["phase:evaluation"]),  # not run: no duration
        _cell(duration=1.0)])
    got = phases.phase_seconds(nb)
    assert got == {"sft": 100.0, "sampling": 32.5, "dpo": 600.0, "evaluation": 0.0, "other": 1.5}
    assert list(got) == ["sft", "sampling", "dpo", "evaluation", "other"]


def test_a_notebook_without_phase_tags_is_all_other(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb", [_cell(duration=2.0), _cell(["parameters"], 0.25)])
    assert phases.phase_seconds(nb) == {"other": 2.2}  # 2.25 rounded to one decimal


@pytest.mark.parametrize("tags, needles", [
    (["phase:dpoo"], ["cell 2", "unknown phase tag 'phase:dpoo'", "phase:sft, phase:sampling"]),
    (["phase:sft", "phase:dpo"], ["cell 2", "two phase tags", "one phase"]),
])
def test_a_bad_phase_tag_is_one_line_naming_the_notebook_and_cell(tmp_path, tags, needles):
    nb = _notebook(tmp_path / "nb.ipynb", [_cell(duration=1.0), _cell(tags, 1.0)])
    with pytest.raises(ValueError) as err:
        phases.phase_seconds(nb)
    message = str(err.value)
    assert "\n" not in message and "nb.ipynb" in message
    for needle in needles:
        assert needle in message, message


def test_a_missing_or_broken_notebook_is_one_line_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.ipynb"):
        phases.phase_seconds(tmp_path / "nope.ipynb")
    (tmp_path / "cut.ipynb").write_text('{"cells": [')
    with pytest.raises(ValueError, match="cut.ipynb: not a notebook"):
        phases.phase_seconds(tmp_path / "cut.ipynb")


def test_totals_and_the_progress_line():
    total = phases.total_phases([{"sft": 60.0, "other": 5.0}, {"evaluation": 90.0, "other": 1.0}, {}])
    assert total == {"sft": 60.0, "evaluation": 90.0, "other": 6.0}
    assert phases.phase_line(total) == "sft 1.0 min, evaluation 1.5 min"
    assert phases.phase_line({"other": 3.0}) == ""


def test_the_session_notebooks_tag_their_heavy_work_with_known_phases():
    """Sessions B and C, unexecuted: every phase tag is a known one, and each phase the README's table reports
    is tagged (the cells have no durations yet, so all are 0)."""
    assert set(phases.phase_seconds(notebook_path(B))) == {"sft", "sampling", "dpo", "evaluation", "other"}
    assert set(phases.phase_seconds(notebook_path(C))) == {"evaluation", "other"}
    assert set(phases.phase_seconds(notebook_path(A))) == {"other"}


# ----------------------------------------------------------------------------- recorded by the runner


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """The runner writing into tmp_path/runs, with no kernel check and no device probe: returns that folder."""
    monkeypatch.setattr(workbook, "check_kernel", lambda kernel=workbook.KERNEL: None)
    monkeypatch.setattr(workbook, "precision_used", lambda: {"name": "fp32", "reason": "test", "device": "cpu"})
    return tmp_path / "runs"


EXECUTED = {B: [_cell(["phase:sft"], 120.0), _cell(["phase:sampling"], 60.0), _cell(["phase:dpo"], 300.0),
                _cell(["phase:evaluation"], 30.0), _cell(duration=6.0)],
            C: [_cell(["phase:evaluation"], 90.0), _cell(duration=3.0)]}


def _fake_papermill(monkeypatch, fault=None):
    """papermill.execute_notebook writing EXECUTED's cells for the notebook; `fault(name, output_path)` may raise."""
    def execute(input_path, output_path, parameters=None, **kwargs):
        name = Path(input_path).stem
        _notebook(Path(output_path), EXECUTED.get(name, [_cell(duration=1.0)]))
        if fault:
            fault(name, output_path)

    monkeypatch.setattr(papermill, "execute_notebook", execute)


def test_the_runner_records_phases_per_notebook_and_their_sum(runs, monkeypatch, capsys):
    _fake_papermill(monkeypatch)
    run_dir = workbook.run("smoke", "r1", (A, B, C), runs_dir=runs)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["notebooks"][A]["phases_s"] == {"other": 1.0}
    assert record["notebooks"][B]["phases_s"] == {"sft": 120.0, "sampling": 60.0, "dpo": 300.0,
                                                  "evaluation": 30.0, "other": 6.0}
    assert record["phases_s"] == {"sft": 120.0, "sampling": 60.0, "dpo": 300.0, "evaluation": 120.0, "other": 10.0}
    out = capsys.readouterr().out
    assert f"[smoke] {B} done in" in out
    assert "; sft 2.0 min, sampling 1.0 min, dpo 5.0 min, evaluation 0.5 min" in out
    assert f"[smoke] {A} done in" in out and "other" not in out


def test_a_resumed_notebook_replaces_its_phases_in_the_sum(runs, monkeypatch):
    _fake_papermill(monkeypatch)
    workbook.run("smoke", "r1", (B, C), runs_dir=runs)
    monkeypatch.setitem(EXECUTED, C, [_cell(["phase:evaluation"], 30.0)])  # the rerun of C is faster
    workbook.run("smoke", "r1", (C,), runs_dir=runs, resume=True)
    record = json.loads((runs / "r1" / "run.json").read_text())
    assert record["notebooks"][C]["phases_s"] == {"evaluation": 30.0, "other": 0.0}
    assert record["phases_s"]["evaluation"] == 60.0 and record["phases_s"]["other"] == 6.0


def test_a_record_update_sums_the_phases_of_what_another_runner_wrote(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"run_id": "r", "phases_s": {"dpo": 999.0},
                                "notebooks": {B: {"status": "ok", "phases_s": {"dpo": 300.0, "other": 2.0}}}}))
    record = workbook.update_record(path, {"run_id": "r"}, {C: {"status": "ok",
                                                                "phases_s": {"evaluation": 90.0, "other": 1.0}}})
    assert record["phases_s"] == {"dpo": 300.0, "evaluation": 90.0, "other": 3.0}
    record = workbook.update_record(path, {"run_id": "r"}, {B: {"status": "running"}, C: {"status": "running"}})
    assert "phases_s" not in record  # none of the notebooks has finished a timed run


def test_an_interrupted_notebook_keeps_the_phases_of_the_cells_that_ran(runs, monkeypatch):
    def fault(name, output_path):
        if name == B:
            _notebook(Path(output_path), [_cell(["phase:sft"], 120.0), _cell(["phase:sampling"])])  # running
            raise KeyboardInterrupt

    _fake_papermill(monkeypatch, fault)
    with pytest.raises(workbook.RunInterrupted):
        workbook.run("smoke", "r1", (B, C), runs_dir=runs)
    entry = json.loads((runs / "r1" / "run.json").read_text())["notebooks"][B]
    assert entry["status"] == "interrupted"
    assert entry["phases_s"] == {"sft": 120.0, "sampling": 0.0, "other": 0.0}


def test_a_notebook_left_by_an_earlier_run_is_not_read_as_this_ones(runs, monkeypatch):
    """The run stops before papermill writes anything: the executed notebook of the run before is not this run's."""
    (runs / "r1").mkdir(parents=True)
    old = _notebook(runs / "r1" / f"{C}.ipynb", EXECUTED[C])
    os.utime(old, (1e9, 1e9))

    def stopped(input_path, output_path, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(papermill, "execute_notebook", stopped)
    with pytest.raises(workbook.RunInterrupted):
        workbook.run("smoke", "r1", (C,), runs_dir=runs, resume=True)
    entry = json.loads((runs / "r1" / "run.json").read_text())["notebooks"][C]
    assert entry["status"] == "interrupted" and "phases_s" not in entry
