"""Notebooks under git stay clean for the learner (issue #14): a Lab session leaves `git status` clean and a
later `git pull` of a changed notebook succeeds, with the filter `make setup` installs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from helpers.gitfilter import EXTRA_KEYS, install, refresh_if_unchanged

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def _lab_session(path: Path) -> None:
    """What running and saving a notebook in JupyterLab writes: outputs, counts, the kernel's language_info,
    cell timing and widget state (the bytes Lab's save writes, through nbformat)."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata["language_info"] = {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                                    "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                                    "pygments_lexer": "ipython3", "version": sys.version.split()[0]}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}}
    for k, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.execution_count = k
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"output {k}\n"),
                            nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="})]
            cell.metadata["execution"] = {"iopub.execute_input": "2026-11-29T07:00:00.000Z"}
    nbformat.write(nb, path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebooks_are_exactly_what_the_filter_makes(path, tmp_path):
    copy = tmp_path / path.name
    copy.write_bytes(path.read_bytes())
    subprocess.run([sys.executable, "-m", "nbstripout", "--extra-keys", EXTRA_KEYS, str(copy)], check=True)
    assert copy.read_bytes() == path.read_bytes(), f"run helpers.gitfilter.strip on {path.name} and commit it"


@pytest.fixture
def clones(tmp_path):
    """The course's repository (origin) and a learner's clone of it with the filter installed."""
    origin, learner = tmp_path / "origin", tmp_path / "learner"
    subprocess.run(["git", "clone", "-q", str(REPO), str(origin)], check=True)
    for repo in (origin,):
        _git(repo, "config", "user.email", "course@example.com")
        _git(repo, "config", "user.name", "course")
    subprocess.run(["git", "clone", "-q", str(origin), str(learner)], check=True)
    _git(learner, "config", "user.email", "learner@example.com")
    _git(learner, "config", "user.name", "learner")
    install(learner)
    return origin, learner


def test_a_lab_session_leaves_git_status_clean_and_a_pull_of_a_course_fix_succeeds(clones):
    origin, learner = clones
    for path in sorted((learner / "notebooks").glob("*.ipynb")):
        _lab_session(path)
        assert refresh_if_unchanged(path)  # Lab's post-save hook (make lab)
    assert "execution_count\": 1" in (learner / "notebooks/01_dpo_math.ipynb").read_text()  # the outputs are there
    assert _git(learner, "status", "--porcelain") == ""  # ... and git sees no change

    # the course fixes a notebook; the learner, outputs still on disk, pulls it
    fixed = origin / "notebooks/01_dpo_math.ipynb"
    nb = json.loads(fixed.read_text())
    nb["cells"][0]["source"][0] = nb["cells"][0]["source"][0].rstrip("\n") + " (fixed)\n"
    fixed.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    _git(origin, "commit", "-qam", "course fix")
    _git(learner, "pull", "-q", "--no-rebase")
    assert "(fixed)" in (learner / "notebooks/01_dpo_math.ipynb").read_text()
    assert _git(learner, "status", "--porcelain") == ""


def test_a_real_edit_still_shows_as_a_change(clones):
    _, learner = clones
    path = learner / "notebooks/02_preferences_and_dpo.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source += "\nbeta = 0.2"  # the learner changes a parameter
    nbformat.write(nb, path)
    assert not refresh_if_unchanged(path)
    assert _git(learner, "status", "--porcelain").split() == ["M", "notebooks/02_preferences_and_dpo.ipynb"]


def test_without_the_filter_the_same_session_would_dirty_every_notebook(tmp_path):
    learner = tmp_path / "plain"
    subprocess.run(["git", "clone", "-q", str(REPO), str(learner)], check=True)
    for path in sorted((learner / "notebooks").glob("*.ipynb")):
        _lab_session(path)
    assert len(_git(learner, "status", "--porcelain").splitlines()) == len(NOTEBOOKS)
