"""Progress bars for long work: Lab widgets in an interactive JupyterLab kernel, text everywhere else.

A kernel that JupyterLab started has `JPY_SESSION_NAME` in its environment (jupyter_server sets it to the
notebook's path); there the bars are ipywidgets, as a learner expects. Papermill's kernels, scripts and the tests
have no such variable and get tqdm's text bars, which read well in a papermill log. `WORKBOOK_PROGRESS=text`
forces text bars anywhere.
"""

from __future__ import annotations

import os

from tqdm import tqdm as text_tqdm


def widgets_available() -> bool:
    """True in a Lab kernel that can show ipywidgets (and WORKBOOK_PROGRESS is not "text")."""
    if os.environ.get("WORKBOOK_PROGRESS", "").lower() == "text" or "JPY_SESSION_NAME" not in os.environ:
        return False
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None or "IPKernelApp" not in shell.config:
            return False
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def tqdm(*args, **kwargs):
    """tqdm's bar: `tqdm.notebook` (a widget) when `widgets_available()`, else the text bar."""
    if widgets_available():
        from tqdm.notebook import tqdm as widget_tqdm

        return widget_tqdm(*args, **kwargs)
    return text_tqdm(*args, **kwargs)


def quiet_dependency_warnings() -> None:
    """Hide, in a notebook's output only, warnings about the libraries' own code that a learner can do nothing
    about: transformers' "`gradient_checkpointing_enable` is deprecated ... in v6" (TRL calls the old name) and
    tqdm's "IProgress not found". Each notebook calls this in its imports cell; the tests do not, so they still
    see every warning. Warnings about the learner's data or settings are never filtered."""
    import warnings

    warnings.filterwarnings("ignore", message=r".*is deprecated and will be removed in v6", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r"IProgress not found")
