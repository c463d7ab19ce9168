"""Notebooks under git stay clean for the learner: nbstripout as a git filter, set up by `make setup`.

Opening or running a session notebook in JupyterLab rewrites it (outputs, execution counts, the kernel's full
`language_info`, widget state), and a learner's next `git pull` of a course fix then conflicts. With this filter,
git sees every notebook as stripped: outputs, counts, widget state, cell timing and the machine-specific parts of
`language_info` (the Python version...) never reach a diff or a commit, and `git status` stays clean after a Lab
session. The committed notebooks are kept in exactly the stripped form (tests/test_gitfilter.py checks it), so
the filter has nothing to change in them.

    python -m helpers.gitfilter            # in the repository: what `make setup` runs
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# stripped besides nbstripout's defaults: what differs between learners' machines, not what the course wrote
EXTRA_KEYS = " ".join(f"metadata.language_info.{k}" for k in (
    "version", "codemirror_mode", "file_extension", "mimetype", "nbconvert_exporter", "pygments_lexer"))


def install(repo: str | Path = ".") -> None:
    """Register nbstripout as the clean filter for *.ipynb in `repo`'s local git config (.git/info/attributes,
    nothing committed changes). A folder that is not a git checkout (an unpacked archive) is left alone."""
    repo = Path(repo)
    if subprocess.run(["git", "rev-parse", "--git-dir"], cwd=repo, capture_output=True).returncode != 0:
        print(f"{repo.resolve()} is not a git checkout: no notebook filter installed")
        return
    subprocess.run([sys.executable, "-m", "nbstripout", "--install"], cwd=repo, check=True)
    subprocess.run(["git", "config", "filter.nbstripout.extrakeys", EXTRA_KEYS], cwd=repo, check=True)


def refresh_if_unchanged(path: str | Path) -> bool:
    """After a save: when the notebook differs from git's copy only in what the filter strips, refresh its index
    entry (a `git add` that stages nothing new), so `git status` stays clean and a `git pull` can update it.

    Why: git trusts a changed file size without running the clean filter, so a notebook saved with outputs is
    listed as modified, and a pull refuses to overwrite it, although `git diff` shows nothing. A notebook the
    learner really changed (code, text) is left alone: git status lists it, as it should. Returns True when
    refreshed. A no-op outside a git checkout or without the filter installed."""
    path = Path(path).resolve()
    repo = path.parent
    if subprocess.run(["git", "config", "filter.nbstripout.clean"], cwd=repo, capture_output=True).returncode != 0:
        return False
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", path.name], cwd=repo, capture_output=True)
    if tracked.returncode != 0:
        return False
    if subprocess.run(["git", "diff", "--quiet", "--", path.name], cwd=repo).returncode != 0:
        return False  # a real change
    subprocess.run(["git", "add", "--", path.name], cwd=repo, check=True, capture_output=True)
    return True


def post_save(model, os_path, contents_manager, **kwargs) -> None:
    """Jupyter's FileContentsManager.post_save_hook (`make lab` sets it, helpers/configs/jupyter_server_config.py)."""
    if model.get("type") == "notebook":
        try:
            refresh_if_unchanged(os_path)
        except (OSError, subprocess.CalledProcessError) as err:  # never let git trouble block a learner's save
            contents_manager.log.warning("git index refresh after saving %s failed: %s", os_path, err)


def strip(paths) -> None:
    """Rewrite notebooks in place as exactly what the filter makes of them (what the committed notebooks must equal):
    nbstripout's stdout mode, because in place it leaves a file alone when there is nothing to strip, even when
    its key order or indentation differ from the filter's output."""
    for path in map(Path, paths):
        clean = subprocess.run([sys.executable, "-m", "nbstripout", "--extra-keys", EXTRA_KEYS], input=path.read_text(),
                               capture_output=True, text=True, check=True).stdout
        path.write_text(clean)


if __name__ == "__main__":
    install(Path.cwd())
