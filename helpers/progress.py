"""Progress bars for long work: Lab widgets in an interactive JupyterLab kernel, text everywhere else.

A kernel that JupyterLab started has `JPY_SESSION_NAME` in its environment (jupyter_server sets it to the
notebook's path); there the bars are ipywidgets, as a learner expects. Papermill's kernels, scripts and the tests
have no such variable and get tqdm's text bars, which read well in a papermill log. `WORKBOOK_PROGRESS=text`
forces text bars anywhere.

A widget cannot be redrawn once a saved notebook's widget state is stripped (Lab then shows "Error displaying
widget"), so each widget bar also prints one plain-text line when it closes: what ran, how many, how long.
The libraries' own bars (transformers' weight loading, datasets' map passes) say nothing a learner needs:
`quiet_library_bars()` hides them where the workbook loads models and builds trainers.
"""

from __future__ import annotations

import contextlib
import os
import time

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


def duration(seconds: float) -> str:
    """A wall time for a learner: "0.4 s", "42 s", "3 min 05 s", "1 h 02 min"."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def summary_line(desc: str | None, n: int, total: int | None, unit: str, seconds: float) -> str:
    """One plain-text line for a closed bar: "SFT check: 4/4 batches in 5.3 s", or "... stopped at 2/4 ..."."""
    what = f"{desc.rstrip(': ')}: " if desc else ""
    count = n if total is None else total
    plural = f"{unit}es" if unit.endswith(("sh", "ch", "x")) else f"{unit}s"
    units = unit if count == 1 or unit.endswith("s") else plural
    if total is None:
        return f"{what}{n} {units} in {duration(seconds)}"
    done = "" if n >= total else "stopped at "
    return f"{what}{done}{n}/{total} {units} in {duration(seconds)}"


_widget_bar = None


def _widget_bar_class():
    """tqdm.notebook's widget bar that prints `summary_line` once when it closes (made once, on first use)."""
    global _widget_bar
    if _widget_bar is None:
        from tqdm.notebook import tqdm as widget_tqdm

        class WidgetBar(widget_tqdm):
            def close(self):
                if not self.disable and not getattr(self, "_summarised", False):
                    self._summarised = True
                    with contextlib.suppress(Exception):  # at interpreter exit print itself may be gone
                        print(summary_line(self.desc, self.n, self.total, self.unit,
                                           self._time() - self.start_t), flush=True)
                super().close()

        _widget_bar = WidgetBar
    return _widget_bar


def tqdm(*args, **kwargs):
    """tqdm's bar: a widget that leaves a text summary line (see above) when `widgets_available()`, else the text
    bar, whose last state already stays in the output as text."""
    if widgets_available():
        return _widget_bar_class()(*args, **kwargs)
    return text_tqdm(*args, **kwargs)


@contextlib.contextmanager
def status(what: str):
    """A one-line status for a phase with no bar of its own: prints "<what> ..." as it starts and appends the wall
    time (and, if the body sets `line.result`, a result) when it ends, on the same line."""

    class Line:
        result = ""

    line = Line()
    print(f"{what} ...", end="", flush=True)
    t0 = time.perf_counter()
    try:
        yield line
    except BaseException:
        print(f" stopped after {duration(time.perf_counter() - t0)}", flush=True)
        raise
    print(f" {line.result + ', ' if line.result else ''}{duration(time.perf_counter() - t0)}", flush=True)


@contextlib.contextmanager
def quiet_library_bars():
    """Hide transformers' and datasets' own progress bars inside the block ("Loading weights", "Map",
    "Tokenizing train dataset", ...), then restore what was set before. The trainers' step and evaluation bars and
    the workbook's own bars are not theirs, and stay."""
    import datasets
    from transformers.utils import logging as transformers_logging

    transformers_was_on = transformers_logging.is_progress_bar_enabled()
    datasets_was_off = datasets.are_progress_bars_disabled()
    transformers_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if transformers_was_on:
            transformers_logging.enable_progress_bar()
        if not datasets_was_off:
            datasets.enable_progress_bars()


def quiet_dependency_warnings() -> None:
    """Hide, in a notebook's output only, warnings about the libraries' own code that a learner can do nothing
    about: transformers' "`gradient_checkpointing_enable` is deprecated ... in v6" (TRL calls the old name) and
    tqdm's "IProgress not found". Each notebook calls this in its imports cell; the tests do not, so they still
    see every warning. Warnings about the learner's data or settings are never filtered."""
    import warnings

    warnings.filterwarnings("ignore", message=r".*is deprecated and will be removed in v6", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r"IProgress not found")
