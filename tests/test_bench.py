import json
import os

from helpers import bench
from helpers.preferences import validate_preferences


def test_bench_rows_are_valid_triples_that_differ():
    rows = bench.bench_rows(6)
    assert len(rows) == 6
    assert validate_preferences(rows) == []
    assert all(r["chosen"] != r["rejected"] for r in rows)


def test_notebook_walls_come_from_the_latest_complete_full_run(tmp_path):
    def write(name, profile, statuses, mtime):
        folder = tmp_path / name
        folder.mkdir()
        nbs = {f"0{i}": {"status": s, "wall_s": 60.0 * (i + 1)} for i, s in enumerate(statuses)}
        (folder / "run.json").write_text(json.dumps({"run_id": name, "profile": profile, "notebooks": nbs}))
        os.utime(folder / "run.json", (mtime, mtime))

    write("old-full", "full", ["ok", "ok"], 1_000)
    write("newer-quick", "quick", ["ok", "ok"], 2_000)
    write("newest-full-failed", "full", ["ok", "failed"], 3_000)
    walls = bench.notebook_walls(tmp_path)
    assert walls == {"run": "old-full", "00": 60.0, "01": 120.0, "total_s": 180.0}
    assert bench.notebook_walls(tmp_path / "nothing-here") == {}


def test_matmul_bound_is_measured():
    assert bench.matmul_gflops(n=256, repeats=2) > 0.1
