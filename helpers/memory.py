"""How much memory a notebook's kernel holds while it runs, and which cells held the most."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path


def high_water_mb(pid: int | str = "self") -> float | None:
    """A process's peak resident memory (VmHWM, MB) since it started or last exec'd; None without /proc.
    Not ru_maxrss: Linux carries that across exec, so a child of a large process reports its parent's size."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class PeakMemory:
    """Peak resident memory (MB) of this process's child processes while the block runs: the notebook's kernel
    and anything it starts (the compiler's short-lived g++ processes among them).

    `mb` is the larger of two measures: the largest high-water mark (VmHWM) of any one child, which Linux keeps
    exactly, so no short spike of the kernel is missed; and the largest sum of the children's resident sizes at
    one sampling instant, what they held together. `hwm_sum_mb`, the sum of the high-water marks of the children
    alive at one instant, is kept beside it as an upper bound: their peaks need not coincide.

        with PeakMemory() as peak:
            ...run a notebook...
        peak.mb, peak.detail()
    """

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.process_mb = self.concurrent_mb = self.hwm_sum_mb = 0.0
        self.trace: list[tuple[float, float]] = []  # (unix time, resident MB of the children now), for profiling
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    @staticmethod
    def _process_mb(proc) -> float:
        hwm = high_water_mb(proc.pid)
        return proc.memory_info().rss / 2 ** 20 if hwm is None else hwm  # no /proc (macOS): sampled RSS

    def _sample(self) -> None:
        import psutil

        hwm_sum = now = 0.0
        for proc in psutil.Process().children(recursive=True):
            try:
                hwm = self._process_mb(proc)
                rss = proc.memory_info().rss / 2 ** 20
            except psutil.Error:
                continue  # ended between listing and reading
            hwm_sum, now = hwm_sum + hwm, now + rss
            self.process_mb = max(self.process_mb, hwm)
        self.concurrent_mb = max(self.concurrent_mb, now)
        self.hwm_sum_mb = max(self.hwm_sum_mb, hwm_sum)
        self.trace.append((round(time.time(), 2), round(now, 1)))

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    @property
    def mb(self) -> float:
        return round(max(self.process_mb, self.concurrent_mb), 1)

    def detail(self) -> dict[str, float]:
        """The three measures, rounded: one process's exact peak, the children's sampled total, the upper bound."""
        return {"one_process_mb": round(self.process_mb, 1), "all_at_once_mb": round(self.concurrent_mb, 1),
                "hwm_sum_upper_bound_mb": round(self.hwm_sum_mb, 1)}

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
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
