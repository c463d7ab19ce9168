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


def strip(paths) -> None:
    """Strip notebooks in place, exactly as the filter does (what the committed notebooks must equal)."""
    subprocess.run([sys.executable, "-m", "nbstripout", "--extra-keys", EXTRA_KEYS, *map(str, paths)], check=True)


if __name__ == "__main__":
    install(Path.cwd())
