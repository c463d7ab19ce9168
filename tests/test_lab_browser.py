"""The learner's JupyterLab, driven through a real browser (`make test-lab`; part of `make test`).

Headless Chromium from Debian's packages (`/usr/bin/chromium`, installed by `make browser`) under Playwright opens
Lab as `make lab` starts it and does what the README tells a learner: a short pass chosen in an untracked
notebooks/local.yaml (`profile: quick`, written through Lab), then Session A, all cells from the Run menu, saved.
It checks what a learner would see: the profile applied, named in the first cell's output; no error output, the
plots rendered as images, the math rendered by MathJax. Then the git side: the learner's checkout stays clean
(`git status`: local.yaml is ignored), and a `git pull` of a changed notebook succeeds. Last, the learner fills the
DPO-loss exercise in the editor, runs it and its check, and sees the check's ✓.

The Lab runs in a throwaway "learner" clone of a throwaway "upstream" repository holding the working tree's
files (tracked, and untracked ones git does not ignore: what a commit of the tree would hold), with the notebook
filter installed as `make setup` installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from helpers.paths import REPO_ROOT

CHROMIUM = os.environ.get("WORKBOOK_CHROMIUM", "/usr/bin/chromium")
NOTEBOOK = "notebooks/01_dpo_math.ipynb"
LOCAL_YAML = "notebooks/local.yaml"
LOSS_EXERCISE = "# YOUR ANSWER HERE: the DPO loss"
LOSS_ANSWER = ("    return -torch.nn.functional.logsigmoid(beta * ((policy_chosen - ref_chosen) - (policy_rejected - "
               "ref_rejected)))")
pytestmark = pytest.mark.lab

# Chromium's flags as the machine's notes give them for a closed network and a root user
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def learner(tmp_path):
    """upstream: a repository with the working tree's files (tracked, and untracked ones not ignored); learner: its
    clone, set up like `make setup`."""
    upstream, clone = tmp_path / "upstream", tmp_path / "learner"
    upstream.mkdir()
    files = _git(REPO_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, files):
        src = REPO_ROOT / name
        if src.is_file():
            (upstream / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, upstream / name)
    _git(upstream, "init", "-q", "-b", "main")
    _git(upstream, "add", "-A")
    _git(upstream, "-c", "user.name=course", "-c", "user.email=course@example.org", "commit", "-q", "-m", "course")
    _git(tmp_path, "clone", "-q", str(upstream), str(clone))
    subprocess.run([sys.executable, "-m", "helpers.gitfilter"], cwd=clone, check=True, capture_output=True)
    return upstream, clone


@pytest.fixture()
def lab(learner, tmp_path):
    """JupyterLab as `make lab` starts it, in the learner's clone; yields (base url with token, learner path)."""
    _, clone = learner
    port, token = _free_port(), "workbook-browser-test"
    env = {**os.environ, "WORKBOOK_DEFAULT_RUN_DIR": str(tmp_path / "lab-run"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),  # no learner settings, no news prompt
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
           # the clone's helpers, as the clone's own `make setup` would install them (not this checkout's)
           "PYTHONPATH": os.pathsep.join(filter(None, [str(clone), os.environ.get("PYTHONPATH")]))}
    jupyter = Path(sys.executable).parent / "jupyter"
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen(
        [str(jupyter), "lab", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", "--config=helpers/configs/jupyter_server_config.py",
         "--ServerApp.root_dir=.", "--LabApp.default_url=/lab/tree/notebooks"],
        cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail("JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield base, token, clone
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _outputs(path: Path) -> list[dict]:
    nb = json.loads(path.read_text())
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


def _text(outputs: list[dict]) -> str:
    return "".join("".join(o.get("text", "")) for o in outputs)


def _answered(source: str) -> str:
    """The loss exercise's source with its `    ...` placeholder line replaced by a right answer."""
    lines = source.split("\n")
    placeholders = [i for i, line in enumerate(lines) if line.rstrip() == "    ..."]
    assert len(placeholders) == 1, f"the loss exercise should hold one `    ...` line:\n{source}"
    lines[placeholders[0]] = LOSS_ANSWER
    return "\n".join(lines)


def test_a_short_pass_of_session_a_in_lab_through_the_browser_keeps_git_clean_and_checks_an_exercise(lab, learner):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: `make browser` installs Debian's chromium (make test does it)")
    from playwright.sync_api import expect, sync_playwright

    base, token, clone = lab
    upstream, _ = learner
    notebook = clone / NOTEBOOK
    cells = json.loads(notebook.read_text())["cells"]
    n_code = sum(c["cell_type"] == "code" for c in cells)
    setup_cell = next(i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", [])) + 1
    exercise = next(("".join(c["source"]) for c in cells if c["cell_type"] == "code"
                     and "".join(c["source"]).startswith(LOSS_EXERCISE)), None)
    assert exercise is not None, f"{NOTEBOOK}: no code cell starts with {LOSS_EXERCISE!r}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        try:
            # `make lab` lands in notebooks/ with the repository root above it
            page.goto(f"{base}/lab/tree/notebooks?token={token}")
            page.wait_for_selector(".jp-DirListing-item[title*='01_dpo_math.ipynb']")
            # the README's short pass: a new text file notebooks/local.yaml saying `profile: quick`, saved by Lab
            saved = page.request.put(f"{base}/api/contents/{LOCAL_YAML}?token={token}",
                                     data=json.dumps({"type": "file", "format": "text", "content": "profile: quick\n"}),
                                     headers={"Content-Type": "application/json"})
            assert saved.ok, f"Lab did not save {LOCAL_YAML}: {saved.status} {saved.text()[:300]}"
            assert (clone / LOCAL_YAML).read_text() == "profile: quick\n"
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            # the notebook's own kernel starts by itself (no "Select Kernel" dialog)
            expect(page.locator(".jp-KernelName").first).to_contain_text("DPO workbook", timeout=60_000)
            expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(1)
            page.wait_for_selector("mjx-container", timeout=30_000)  # the DPO formulas, typeset by MathJax
            assert page.locator("mjx-container").count() >= 3

            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            # all cells done: the kernel is idle again and the last code cell has its execution count
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='busy']", timeout=30_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=300_000)
            page.keyboard.press("Control+s")
            # saved (with the post-save hook's index refresh) when the tab's "unsaved" mark is gone
            expect(page.locator(".lm-TabBar-tab.jp-mod-dirty")).to_have_count(0, timeout=30_000)
            deadline = time.time() + 30
            while sum(bool(c.get("execution_count")) for c in json.loads(notebook.read_text())["cells"]
                      if c["cell_type"] == "code") < n_code:
                assert time.time() < deadline, "the saved notebook does not hold every cell's result"
                time.sleep(0.5)
            rendered_images = page.locator(".jp-RenderedImage img").count()
            error_views = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'] "
                                       ":text('Traceback')").count()
            # the learner's checkout: outputs saved into the notebook and local.yaml beside it, yet nothing to commit
            status_after_run = _git(clone, "status", "--porcelain")

            # the loss exercise, filled in the editor as a learner does: click into the cell, select all, type
            fill = page.locator(".jp-Notebook .jp-CodeCell", has_text=LOSS_EXERCISE).first
            check = fill.locator("xpath=following-sibling::div[contains(@class, 'jp-Cell')][1]")
            fill.scroll_into_view_if_needed()
            fill.locator(".cm-content").click()
            page.keyboard.press("Control+a")
            page.keyboard.insert_text(_answered(exercise))  # as typed, without the editor's auto-indent on Enter
            expect(fill.locator(".cm-content")).to_contain_text("logsigmoid")
            page.keyboard.press("Shift+Enter")  # runs the cell and moves to the check cell
            page.keyboard.press("Shift+Enter")  # runs the check
            expect(check.locator(".jp-OutputArea-output")).to_contain_text("✓", timeout=120_000)
            check_output = check.locator(".jp-OutputArea-output").all_inner_texts()
        except Exception:
            page.screenshot(path=str(clone.parent / "lab-failure.png"))
            raise
        finally:
            browser.close()

    assert not any("✗" in text for text in check_output), check_output
    outputs = _outputs(notebook)
    errors = [o for o in outputs if o["output_type"] == "error"]
    assert not errors, f"error outputs in Session A: {[(o['ename'], o['evalue']) for o in errors]}"
    assert error_views == 0
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3, f"{len(images)} plots rendered"
    assert rendered_images >= 1
    stderr = "".join("".join(o["text"]) for o in outputs if o.get("name") == "stderr")
    assert "Warning" not in stderr, f"warnings reached the learner's output:\n{stderr[:2000]}"
    # local.yaml's profile reached the notebook, and its first code cell said so
    first = _text(json.loads(notebook.read_text())["cells"][setup_cell].get("outputs", []))
    assert "local.yaml: applied profile 'quick'" in first, f"the first code cell's output:\n{first[:2000]}"

    assert len(outputs) > 0
    assert status_after_run == ""
    assert _git(clone, "check-ignore", LOCAL_YAML).strip() == LOCAL_YAML
    # a course fix to the notebook upstream, then the learner's pull (the filled exercise was never saved)
    nb = json.loads((upstream / NOTEBOOK).read_text())
    nb["cells"][0]["source"] = ["# Session A (revised)\n", *nb["cells"][0]["source"][1:]]
    (upstream / NOTEBOOK).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    _git(upstream, "-c", "user.name=course", "-c", "user.email=course@example.org", "commit", "-q", "-am", "fix")
    pull = subprocess.run(["git", "pull", "-q", "--no-rebase"], cwd=clone, capture_output=True, text=True)
    assert pull.returncode == 0, pull.stderr
    assert "Session A (revised)" in (clone / NOTEBOOK).read_text()
    assert _git(clone, "status", "--porcelain") == ""
    assert (clone / LOCAL_YAML).read_text() == "profile: quick\n"  # the learner's settings survive the pull
