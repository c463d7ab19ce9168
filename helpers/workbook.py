"""Running the three session notebooks headless with papermill, and the run folder they write into.

`python -m helpers.workbook --profile smoke` (what `make workbook PROFILE=smoke` calls) executes the notebooks
in order into runs/<run-id>/, with the parameter set of the chosen profile from notebooks/profiles.yaml, and
`exercises = "reference"` (the exercises' reference answers are checked).
Before anything runs, every profile parameter is checked against the notebook's `parameters` cell:
papermill only warns on unknown names, so a typo would silently run the full-size notebook.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path

from helpers import sessions
from helpers.cache import exclusive, write_atomic
from helpers.memory import PeakMemory
from helpers.models import precision_used
from helpers.paths import REPO_ROOT, RUNS_DIR
from helpers.phases import phase_line, phase_seconds, total_phases
from helpers.profiles import (
    LOCAL_FILE,
    NOTEBOOKS,
    check_overrides,
    load_profiles,
    notebook_parameters,
    notebook_path,
    overrides_from_args,
    parameters_for,
    parse_value,
    profile_problems,
)

KERNEL = "dpo-workbook"


# ----------------------------------------------------------------------------- running


def check_kernel(kernel: str = KERNEL) -> None:
    from jupyter_client.kernelspec import find_kernel_specs

    if kernel not in find_kernel_specs():
        raise RuntimeError(f"Jupyter kernel {kernel!r} is not installed; run `make setup` (it registers the .venv "
                           f"kernel with `python -m ipykernel install --sys-prefix --name {kernel}`)")


def new_run_dir(runs_dir: Path, profile: str, run_id: str | None = None, resume: bool = False) -> Path:
    """A run folder that no other run uses: runs_dir/<timestamp>-<profile>, with -2, -3, ... when another run
    started in the same second (the folder is created atomically, so two runs never share one). An explicit
    `run_id` that exists is refused unless `resume` says to add to it: a finished run is never overwritten."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    if run_id:
        path = runs_dir / run_id
        try:
            path.mkdir()
        except FileExistsError:
            if not resume:
                raise FileExistsError(f"run folder {path} exists: pass --resume to run notebooks into it again, or "
                                      "choose another --run-id (or none, for a new one)") from None
        return path
    base = f"{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{profile}"
    for k in range(1, 1000):
        path = runs_dir / (base if k == 1 else f"{base}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run folder for {base} in {runs_dir}")


def checked_plan(profile: str, notebooks: tuple[str, ...], overrides: dict | None) -> tuple[dict, dict]:
    """(profiles, overrides) once everything is checked: the profiles file against the notebooks, the profile's
    name, the overrides' names and types, and every value's range, before the first notebook starts."""
    problems = profile_problems()
    if problems:
        raise ValueError("notebooks/profiles.yaml does not match the notebooks:\n  " + "\n  ".join(problems))
    profiles = load_profiles()
    if profile not in profiles:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(profiles)}")
    overrides = check_overrides(dict(overrides or {}), notebooks)
    for name in notebooks:
        params = parameters_for(profile, name, RUNS_DIR, profiles, overrides)
        sessions.check_parameters(name, {**notebook_parameters(notebook_path(name)), **params})
    return profiles, overrides


# ----------------------------------------------------------------------------- the run record


class NotebookFailed(RuntimeError):
    """A cell raised: the message names the notebook, the cell and the error, and where the traceback is."""


class RunInterrupted(RuntimeError):
    """Ctrl-C, SIGTERM or a dead kernel stopped a notebook: run.json records it as interrupted, and the one-line
    message names the notebook, what happened and the command that continues the run. `code` is the exit status."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class Terminated(KeyboardInterrupt):
    """SIGTERM (a `kill`, a scheduler stopping the job), raised by `main`'s handler so that the run is recorded as
    interrupted on the way out, like Ctrl-C."""


def _terminate(signum, frame):
    raise Terminated(f"signal {signum}")


def _read_record(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        kept = path.with_name(f"{path.name}.broken-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, kept)
        print(f"warning: {path} was not valid JSON; kept as {kept.name}, a new record is started", file=sys.stderr,
              flush=True)
        return {}
    return record if isinstance(record, dict) else {}


def update_record(path: str | Path, fields: dict, notebooks: dict | None = None) -> dict:
    """Merge this runner's `fields` (run id, profile, ...) and notebook entries into run.json, and write it whole.

    Done under a lock on the file, re-reading it there: two runners on one run id (`--resume --run-id X
    --notebooks A` and another with B) each add their own entries to what the other wrote, so neither loses the
    other's. The run's first "started" is kept; "finished" is dropped while any notebook is still running; the
    top-level "phases_s" is the sum of the merged notebooks' phase times. Returns the record as written."""
    path = Path(path)
    with exclusive(path, "the run record"):
        record = _read_record(path)
        started = record.get("started")
        record.update(fields)
        if started:
            record["started"] = started
        record["notebooks"] = {**(record.get("notebooks") or {}), **(notebooks or {})}
        if any(e.get("status") == "running" for e in record["notebooks"].values()):
            record.pop("finished", None)
        timed = [e["phases_s"] for e in record["notebooks"].values() if e.get("phases_s")]
        record.pop("phases_s", None)
        if timed:
            record["phases_s"] = total_phases(timed)
        write_atomic(path, json.dumps(record, indent=2) + "\n")
    return record


def resume_command(run_id: str, profile: str, notebooks, overrides: dict | None = None) -> str:
    """The command line that runs `notebooks` into the run folder `run_id` again, with the same settings."""
    parts = ["python", "-m", "helpers.workbook", "--profile", profile, "--resume", "--run-id", run_id,
             "--notebooks", *notebooks]
    for name, value in (overrides or {}).items():
        typed = isinstance(value, str) and parse_value(value) == value
        parts += ["-p", name, value if typed else json.dumps(value)]
    return shlex.join(parts)


def _running_cell(out: Path) -> str | None:
    """The cell that was running when the run stopped, by its position in the executed notebook `out` (a dead
    kernel may leave it without an execution count): the last one papermill started, which after a dead kernel
    it marks "completed" too."""
    try:
        cells = json.loads(out.read_text())["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    for i, cell in reversed(list(enumerate(cells))):
        if cell.get("metadata", {}).get("papermill", {}).get("start_time"):
            return f"{i + 1} of the executed notebook"
    return None


def _interrupted(entry: dict, err: BaseException, out: Path) -> None:
    if isinstance(err, Terminated):
        entry["reason"] = "stopped by SIGTERM"
    elif isinstance(err, KeyboardInterrupt):
        entry["reason"] = "interrupted (Ctrl-C)"
    else:
        entry["reason"] = "the kernel died (likely out of memory)"
    entry["status"] = "interrupted"
    cell = _running_cell(out)
    if cell:
        entry["cell"] = cell


def interrupted_message(name: str, entry: dict, run_id: str, profile: str, notebooks, overrides: dict) -> str:
    """One line: which notebook stopped, why, and the command that continues the run from it."""
    cell = f" in cell {entry['cell']}" if entry.get("cell") else ""
    reason = entry.get("reason", "")
    if reason.startswith("the kernel died"):
        what = (f"its kernel died{cell} (likely out of memory: a smaller profile, batch size or fewer prompts "
                "needs less)")
    elif "SIGTERM" in reason:
        what = f"was stopped by SIGTERM{cell}"
    else:
        what = f"was interrupted (Ctrl-C){cell}"
    return (f"interrupted: notebooks/{name}.ipynb {what}; run.json records it as interrupted. Continue the run "
            f"with: {resume_command(run_id, profile, notebooks, overrides)}")


# ----------------------------------------------------------------------------- running


def _record_phases(entry: dict, out: Path, since: float) -> None:
    """Seconds per phase of the executed notebook `out` into `entry["phases_s"]`, when this execution wrote it
    (not a file a stopped run left before, nor none at all). A bad phase tag is a warning: the run goes on."""
    try:
        if out.stat().st_mtime < since:
            return
        entry["phases_s"] = phase_seconds(out)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as err:
        print(f"warning: no phase times recorded: {err}", file=sys.stderr, flush=True)


def execute_notebook(name: str, out: Path, params: dict, kernel: str, timeout_s: int, entry: dict) -> None:
    """Run one notebook into `out` with papermill, recording status, wall time, peak memory and the seconds per
    phase of its tagged cells (helpers.phases) in `entry`; a failing cell becomes one NotebookFailed line naming
    the cell and the error. Ctrl-C, SIGTERM (see `main`) or a dead kernel leave the status "interrupted", with the
    reason and the cell that was running, and propagate."""
    import papermill as pm
    from nbclient.exceptions import DeadKernelError

    since = time.time() - 1.0  # file times may be coarser than the clock
    t0 = time.perf_counter()
    peak = PeakMemory()
    try:
        with peak:
            pm.execute_notebook(str(notebook_path(name)), str(out), parameters=params, kernel_name=kernel,
                                cwd=str(REPO_ROOT), log_output=True, progress_bar=False,
                                execution_timeout=timeout_s,
                                # the kernel's startup notes are not the learner's business; its errors are
                                extra_arguments=["--IPKernelApp.log_level=ERROR"])
        entry["status"] = "ok"
    except pm.PapermillExecutionError as err:  # the failing cell's message, not the kernel's traceback wall
        entry["status"] = "failed"
        evalue = " ".join(str(err.evalue).split())
        raise NotebookFailed(f"notebooks/{name}.ipynb stopped in cell [{err.exec_count}]: {err.ename}: {evalue} "
                             f"(the full traceback is in the executed notebook {out})") from None
    except (KeyboardInterrupt, DeadKernelError) as err:
        _interrupted(entry, err, out)
        raise
    except Exception:
        entry["status"] = "failed"
        raise
    finally:
        entry["wall_s"] = round(time.perf_counter() - t0, 1)
        entry["peak_rss_mb"] = peak.mb
        entry["peak_rss_detail"] = peak.detail()
        _record_phases(entry, out, since)
        (out.parent / f"{name}.memory.json").write_text(json.dumps(peak.trace) + "\n")


def run(profile: str = "full", run_id: str | None = None, notebooks: tuple[str, ...] = NOTEBOOKS,
        kernel: str = KERNEL, timeout_s: int = 3 * 3600, runs_dir: Path = RUNS_DIR, resume: bool = False,
        overrides: dict | None = None) -> Path:
    """Execute the notebooks in order into runs_dir/<run_id>/ (a new folder unless `resume`); returns the folder.

    Writes run.json (through `update_record`: whole, under a lock, merged with what another runner on the same
    run id wrote) with the profile, the precision used, and each notebook's parameters, status, wall time, peak
    resident memory (its kernel's, sampled by PeakMemory) and seconds per phase, with their sum over the
    notebooks. Ctrl-C, SIGTERM or a dead kernel record the notebook as "interrupted" and raise RunInterrupted,
    whose one line says how to continue.
    """
    profiles, overrides = checked_plan(profile, notebooks, overrides)
    check_kernel(kernel)
    if LOCAL_FILE.exists():
        print(f"note: {LOCAL_FILE.relative_to(REPO_ROOT)} applies in Lab only; the runner takes --profile and -p",
              flush=True)
    os.environ.pop("JPY_SESSION_NAME", None)  # started from a Lab terminal: the kernels are still not Lab's
    run_dir = new_run_dir(runs_dir, profile, run_id, resume)
    record_path = run_dir / "run.json"
    fields = {"run_id": run_dir.name, "profile": profile, "overrides": overrides, "kernel": kernel,
              "started": dt.datetime.now().isoformat(), "precision": precision_used()}

    for i, name in enumerate(notebooks):
        params = parameters_for(profile, name, run_dir, profiles, overrides)
        out = run_dir / f"{name}.ipynb"
        print(f"[{profile}] running notebooks/{name}.ipynb -> {out}", flush=True)
        entry = {"parameters": params, "status": "running", "started": dt.datetime.now().isoformat()}
        update_record(record_path, fields, {name: entry})
        try:
            try:
                execute_notebook(name, out, params, kernel, timeout_s, entry)
            finally:
                update_record(record_path, fields, {name: entry})
        except BaseException as err:
            if entry["status"] != "interrupted":
                raise
            message = interrupted_message(name, entry, run_dir.name, profile, notebooks[i:], overrides)
            raise RunInterrupted(message, 130 if isinstance(err, KeyboardInterrupt) else 1) from None
        phases = phase_line(entry.get("phases_s", {}))
        print(f"[{profile}] {name} done in {entry['wall_s']} s, peak memory {entry['peak_rss_mb'] / 1024:.2f} GB"
              + (f"; {phases}" if phases else ""), flush=True)
    update_record(record_path, {**fields, "finished": dt.datetime.now().isoformat()})
    return run_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run the workbook's notebooks headless with papermill.")
    parser.add_argument("--profile", default=os.environ.get("PROFILE", "full"))
    parser.add_argument("--run-id", default=None, help="default: a new <timestamp>-<profile> folder")
    parser.add_argument("--resume", action="store_true", help="run into the existing --run-id folder again")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="set a notebook parameter on top of the profile, e.g. -p beta 0.2 (repeatable)")
    parser.add_argument("--params", default=os.environ.get("PARAMS", ""),
                        help='NAME=VALUE pairs separated by spaces (what `make workbook PARAMS="beta=0.2"` passes)')
    parser.add_argument("--notebooks", nargs="*", default=list(NOTEBOOKS), choices=NOTEBOOKS)
    parser.add_argument("--check", action="store_true", help="only check profiles against the notebooks")
    args = parser.parse_args(argv)
    # SIGTERM (kill, a scheduler) raises Terminated, a KeyboardInterrupt: the notebook is recorded as interrupted
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if on_main_thread else None
    try:
        return _main(args)
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _main(args) -> int:
    t0 = time.perf_counter()
    try:
        if args.check:
            problems = profile_problems()
            print("\n".join(problems) or "profiles match the notebooks' parameters cells")
            return 1 if problems else 0
        overrides = overrides_from_args(args.parameter, args.params)
        run_dir = run(args.profile, args.run_id, tuple(args.notebooks), resume=args.resume, overrides=overrides)
    except (FileExistsError, ValueError) as err:  # a bad argument: one line, not a traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    except NotebookFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except RunInterrupted as err:
        print(err, file=sys.stderr)
        return err.code
    except KeyboardInterrupt as err:  # before the first notebook or between two: nothing was left running
        what = "SIGTERM" if isinstance(err, Terminated) else "Ctrl-C"
        print(f"interrupted ({what}) while no notebook was running; run.json is up to date", file=sys.stderr)
        return 130
    print(f"\nDone in {time.perf_counter() - t0:.0f} s. Results: {run_dir}")
    print("  executed notebooks: " + ", ".join(sorted(p.name for p in run_dir.glob('*.ipynb'))))
    summary = run_dir / "summary.md"
    if summary.exists():
        print(summary.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
