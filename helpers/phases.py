"""Where a run's time went: the seconds per phase of an executed notebook, from the durations papermill records.

The session notebooks tag the cells that do the heavy work with the phase they belong to (`phase:sft`,
`phase:sampling`, `phase:dpo`, `phase:evaluation`); papermill writes each executed cell's wall time into its
metadata (`papermill.duration`). The runner sums them per notebook into run.json, so a full run on any CPU shows
its SFT, sampling, DPO and evaluation time without timers in the notebooks.
"""

from __future__ import annotations

import json
from pathlib import Path

PHASES = ("sft", "sampling", "dpo", "evaluation")
OTHER = "other"  # untagged cells: imports, markdown, plots, exercises, saving
TAG_PREFIX = "phase:"


def cell_phase(cell: dict, where: str = "") -> str:
    """The phase a cell's tags name (`phase:<name>`), or "other" when none does; an unknown phase or two phase tags
    on one cell are a ValueError naming `where` (the notebook and cell) and the tags allowed."""
    tags = [t for t in cell.get("metadata", {}).get("tags", []) if t.startswith(TAG_PREFIX)]
    if not tags:
        return OTHER
    allowed = ", ".join(TAG_PREFIX + p for p in PHASES)
    if len(tags) > 1:
        raise ValueError(f"{where}: two phase tags {tags}; a cell belongs to one phase ({allowed})")
    phase = tags[0][len(TAG_PREFIX):]
    if phase not in PHASES:
        raise ValueError(f"{where}: unknown phase tag {tags[0]!r}; use one of {allowed}")
    return phase


def phase_seconds(executed_ipynb: str | Path) -> dict[str, float]:
    """Seconds per phase of an executed notebook: the sum of `papermill.duration` over the cells tagged with each
    phase, in PHASES order, then "other" for the untagged cells. A phase some cell is tagged with is listed even
    when its cells did not run (a cell without a duration counts 0: not reached, or stopped while running)."""
    path = Path(executed_ipynb)
    try:
        cells = json.loads(path.read_text())["cells"]
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no executed notebook here to read phase times from") from None
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a notebook's JSON with a cells list ({type(err).__name__}: {err})") from None
    seconds: dict[str, float] = {}
    for i, cell in enumerate(cells):
        phase = cell_phase(cell, f"{path} cell {i + 1}")
        duration = cell.get("metadata", {}).get("papermill", {}).get("duration")
        seconds[phase] = seconds.get(phase, 0.0) + float(duration or 0.0)
    order = [p for p in PHASES if p in seconds] + [OTHER]
    return {p: round(seconds.get(p, 0.0), 1) for p in order}


def total_phases(per_notebook) -> dict[str, float]:
    """The phase times of several notebooks (an iterable of phase_seconds results) summed, in PHASES order."""
    seconds: dict[str, float] = {}
    for phases in per_notebook:
        for phase, s in phases.items():
            seconds[phase] = seconds.get(phase, 0.0) + s
    order = [p for p in PHASES if p in seconds] + ([OTHER] if OTHER in seconds else [])
    return {p: round(seconds[p], 1) for p in order}


def phase_line(phases: dict[str, float]) -> str:
    """The tagged phases in minutes for a progress line, e.g. "sft 7.9 min, dpo 20.1 min" ("" when none)."""
    return ", ".join(f"{p} {s / 60:.1f} min" for p, s in phases.items() if p != OTHER)
