"""JupyterLab as `make lab` starts it: at the repository root, the workbook's kernel, and a post-save hook that keeps
`git status` clean after a session (helpers/gitfilter.py: outputs never show as changes)."""

from helpers.gitfilter import post_save

c = get_config()  # noqa: F821  (provided by Jupyter when it loads this file)
c.FileContentsManager.post_save_hook = post_save
