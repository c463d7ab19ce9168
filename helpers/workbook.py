"""Running the three session notebooks headless with papermill, and the run folder they write into.

`python -m helpers.workbook --profile smoke` (what `make workbook PROFILE=smoke` calls) executes the notebooks
in order into runs/<run-id>/, with the parameter set of the chosen profile from notebooks/profiles.yaml.
Before anything runs, every profile parameter is checked against the notebook's `parameters` cell:
papermill only warns on unknown names, so a typo would silently run the full-size notebook.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import re
import sys
import threading
import time
from pathlib import Path

import yaml

from helpers import sessions
from helpers.models import precision_used
from helpers.paths import NOTEBOOK_DIR, REPO_ROOT, RUNS_DIR

PROFILES_FILE = NOTEBOOK_DIR / "profiles.yaml"
NOTEBOOKS = ("01_dpo_math", "02_preferences_and_dpo", "03_three_way_eval")
KERNEL = "dpo-workbook"
INJECTED = ("run_dir", "profile")  # set by the runner for every notebook


# ----------------------------------------------------------------------------- profiles


def notebook_path(name: str) -> Path:
    return NOTEBOOK_DIR / f"{name}.ipynb"


def notebook_parameters(path: str | Path) -> dict:
    """Names and default values assigned in the notebook's cell tagged `parameters`."""
    nb = json.loads(Path(path).read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{path}: expected exactly one cell tagged 'parameters', found {len(cells)}")
    source = "".join(cells[0]["source"])
    params = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    params[target.id] = ast.literal_eval(node.value)
    return params


def load_profiles(path: Path = PROFILES_FILE) -> dict:
    profiles = yaml.safe_load(Path(path).read_text())
    if not isinstance(profiles, dict):
        raise ValueError(f"{path}: expected a mapping of profile -> notebook -> parameters")
    return profiles


def profile_problems(profiles: dict | None = None) -> list[str]:
    """Every profile entry that names a notebook or a parameter that does not exist; [] when all is well."""
    profiles = load_profiles() if profiles is None else profiles
    problems = []
    for profile, per_notebook in profiles.items():
        for notebook, params in (per_notebook or {}).items():
            if notebook not in NOTEBOOKS:
                problems.append(f"profile {profile!r}: unknown notebook {notebook!r} (known: {', '.join(NOTEBOOKS)})")
                continue
            defined = notebook_parameters(notebook_path(notebook))
            for name in params or {}:
                if name not in defined:
                    problems.append(f"profile {profile!r}, notebook {notebook}: parameter {name!r} is not defined "
                                    "in the notebook's parameters cell")
                elif name in INJECTED:
                    problems.append(f"profile {profile!r}, notebook {notebook}: {name!r} is set by the runner")
    return problems


def parameters_for(profile: str, notebook: str, run_dir: Path, profiles: dict | None = None,
                   overrides: dict | None = None) -> dict:
    """The profile's parameters for one notebook, then the learner's `overrides` (-p) that the notebook defines."""
    profiles = load_profiles() if profiles is None else profiles
    if profile not in profiles:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(profiles)} (notebooks/profiles.yaml)")
    defined = notebook_parameters(notebook_path(notebook))
    mine = {k: v for k, v in (overrides or {}).items() if k in defined}
    return {**(profiles[profile].get(notebook) or {}), **mine, "run_dir": str(run_dir), "profile": profile}


def parse_value(text: str):
    """A -p value as YAML reads it, as papermill's -p does: 0.2 is a float, 12 an int, true a bool, [1, 2] a list,
    anything else the string itself. A number in e-notation is a float too (YAML 1.1 reads 3e-4 as a string)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str) and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+", value.strip()):
        return float(value)
    return value


def _type_ok(value, default) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if default is None:
        return True
    return isinstance(value, type(default))


def overrides_from_args(pairs: list[tuple[str, str]], params: str = "") -> dict:
    """-p NAME VALUE pairs and a PARAMS string ("beta=0.2 sft_adapter=path") as one dict of typed values."""
    overrides = {name: parse_value(value) for name, value in pairs}
    for pair in params.split():
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"PARAMS entry {pair!r}: expected NAME=VALUE (e.g. PARAMS=\"beta=0.2 seed=1\")")
        overrides[name] = parse_value(value)
    return overrides


def check_overrides(overrides: dict, notebooks: tuple[str, ...] = NOTEBOOKS) -> dict:
    """The learner's -p NAME VALUE pairs, checked against the notebooks' `parameters` cells before anything runs:
    a name no notebook defines is an error listing the known ones (papermill only warns, and runs the default),
    and a value whose type differs from the notebook's default is an error naming both. Returns the overrides.
    A name several notebooks define (seed, sft_adapter, ...) goes to each of them."""
    defaults: dict[str, object] = {}
    for name in notebooks:
        for key, value in notebook_parameters(notebook_path(name)).items():
            defaults.setdefault(key, value)
    for key, value in overrides.items():
        if key in INJECTED:
            raise ValueError(f"-p {key}: set by the runner (use --run-id / --profile)")
        if key not in defaults:
            known = ", ".join(sorted(k for k in defaults if k not in INJECTED))
            raise ValueError(f"-p {key}: no such parameter in {', '.join(notebooks)}; known: {known}")
        if not _type_ok(value, defaults[key]):
            raise ValueError(f"-p {key} {value!r}: expected type {type(defaults[key]).__name__}, like the notebook's "
                             f"default {defaults[key]!r}, got a {type(value).__name__}")
    return overrides


# ----------------------------------------------------------------------------- running


class PeakMemory:
    """Peak resident memory (MB) of this process's child processes while the block runs: the notebook's kernel
    and anything it starts. Linux keeps each process's own high-water mark (VmHWM), so sampling every
    `interval` seconds misses no short spike of one process; with several processes the sum of their high-water
    marks is taken, an upper bound (their peaks may not coincide).

        with PeakMemory() as peak:
            ...run a notebook...
        peak.mb
    """

    def __init__(self, interval: float = 0.5):
        self.interval, self.mb = interval, 0.0
        self.trace: list[tuple[float, float]] = []  # (unix time, resident MB of the children now), for profiling
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    @staticmethod
    def _process_mb(proc) -> float:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return proc.memory_info().rss / 2 ** 20  # no /proc (macOS): sampled RSS

    def _sample(self) -> None:
        import psutil

        total = now = 0.0
        for proc in psutil.Process().children(recursive=True):
            try:
                mb = self._process_mb(proc)
                now += proc.memory_info().rss / 2 ** 20
            except psutil.Error:
                continue  # ended between listing and reading
            total += mb
            self.mb = max(self.mb, mb)
        self.mb = max(self.mb, total)
        self.trace.append((round(time.time(), 2), round(now, 1)))

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.mb = round(self.mb, 1)
        return False



def memory_by_cell(run_dir: str | Path, notebook: str, top: int = 8):
    """Which cells of an executed notebook held the most memory: the largest resident size of its kernel sampled
    while each cell ran (from <notebook>.memory.json, written by the runner), as a DataFrame, largest first."""
    import pandas as pd

    run_dir = Path(run_dir)
    trace = json.loads((run_dir / f"{notebook}.memory.json").read_text())
    cells = json.loads((run_dir / f"{notebook}.ipynb").read_text())["cells"]
    rows = []
    for i, cell in enumerate(cells):
        meta = cell.get("metadata", {}).get("papermill", {})
        if cell["cell_type"] != "code" or not meta.get("start_time") or not meta.get("end_time"):
            continue
        start = dt.datetime.fromisoformat(meta["start_time"].replace("Z", "+00:00")).timestamp()
        end = dt.datetime.fromisoformat(meta["end_time"].replace("Z", "+00:00")).timestamp()
        during = [mb for t, mb in trace if start <= t <= end + 0.5]
        if during:
            rows.append({"cell": i, "seconds": round(end - start, 1), "peak_mb": max(during),
                         "code": "".join(cell["source"]).strip().splitlines()[0][:70]})
    frame = pd.DataFrame(rows)
    return frame.sort_values("peak_mb", ascending=False).head(top) if len(frame) else frame


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


def execute_notebook(name: str, out: Path, params: dict, kernel: str, timeout_s: int, entry: dict) -> None:
    """Run one notebook into `out` with papermill, recording status, wall time and peak memory in `entry`; a
    failing cell becomes one NotebookFailed line naming the cell and the error."""
    import papermill as pm

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
    except Exception:
        entry["status"] = "failed"
        raise
    finally:
        entry["wall_s"] = round(time.perf_counter() - t0, 1)
        entry["peak_rss_mb"] = peak.mb
        (out.parent / f"{name}.memory.json").write_text(json.dumps(peak.trace) + "\n")


def run(profile: str = "full", run_id: str | None = None, notebooks: tuple[str, ...] = NOTEBOOKS,
        kernel: str = KERNEL, timeout_s: int = 3 * 3600, runs_dir: Path = RUNS_DIR, resume: bool = False,
        overrides: dict | None = None) -> Path:
    """Execute the notebooks in order into runs_dir/<run_id>/ (a new folder unless `resume`); returns the folder.

    Writes run.json with the profile, the precision used, and each notebook's parameters, status, wall time and
    peak resident memory (its kernel's, sampled by PeakMemory).
    """
    profiles, overrides = checked_plan(profile, notebooks, overrides)
    check_kernel(kernel)
    os.environ.pop("JPY_SESSION_NAME", None)  # started from a Lab terminal: the kernels are still not Lab's
    run_dir = new_run_dir(runs_dir, profile, run_id, resume)
    record_path = run_dir / "run.json"
    record = {"run_id": run_dir.name, "profile": profile, "overrides": overrides, "kernel": kernel,
              "started": dt.datetime.now().isoformat(), "precision": precision_used(), "notebooks": {}}
    if record_path.exists():  # running more notebooks into an existing run folder keeps the earlier records
        record["notebooks"] = json.loads(record_path.read_text()).get("notebooks", {})

    def save():
        record_path.write_text(json.dumps(record, indent=2) + "\n")

    for name in notebooks:
        params = parameters_for(profile, name, run_dir, profiles, overrides)
        out = run_dir / f"{name}.ipynb"
        print(f"[{profile}] running notebooks/{name}.ipynb -> {out}", flush=True)
        entry = record["notebooks"][name] = {"parameters": params, "status": "running"}
        save()
        try:
            execute_notebook(name, out, params, kernel, timeout_s, entry)
        finally:
            save()
        print(f"[{profile}] {name} done in {entry['wall_s']} s, peak memory {entry['peak_rss_mb'] / 1024:.2f} GB",
              flush=True)
    record["finished"] = dt.datetime.now().isoformat()
    save()
    return run_dir


class NotebookFailed(RuntimeError):
    """A cell raised: the message names the notebook, the cell and the error, and where the traceback is."""


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
    if args.check:
        problems = profile_problems()
        print("\n".join(problems) or "profiles match the notebooks' parameters cells")
        return 1 if problems else 0
    t0 = time.perf_counter()
    try:
        overrides = overrides_from_args(args.parameter, args.params)
        run_dir = run(args.profile, args.run_id, tuple(args.notebooks), resume=args.resume, overrides=overrides)
    except (FileExistsError, ValueError) as err:  # a bad argument: one line, not a traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    except NotebookFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"\nDone in {time.perf_counter() - t0:.0f} s. Results: {run_dir}")
    print("  executed notebooks: " + ", ".join(sorted(p.name for p in run_dir.glob('*.ipynb'))))
    summary = run_dir / "summary.md"
    if summary.exists():
        print(summary.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
