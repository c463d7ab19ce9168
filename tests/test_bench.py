import json
import os

from helpers import bench
from helpers.preferences import validate_preferences
from helpers.profiles import NOTEBOOKS


def test_bench_rows_are_valid_triples_that_differ():
    rows = bench.bench_rows(6)
    assert len(rows) == 6
    assert validate_preferences(rows) == []
    assert all(r["chosen"] != r["rejected"] for r in rows)


def test_notebook_walls_come_from_the_latest_complete_full_run(tmp_path):
    def write(name, profile, statuses, mtime):
        folder = tmp_path / name
        folder.mkdir()
        runs = enumerate(zip(NOTEBOOKS, statuses, strict=True))
        nbs = {nb: {"status": s, "wall_s": 60.0 * (i + 1)} for i, (nb, s) in runs if s}
        (folder / "run.json").write_text(json.dumps({"run_id": name, "profile": profile, "notebooks": nbs}))
        os.utime(folder / "run.json", (mtime, mtime))

    write("old-full", "full", ["ok", "ok", "ok"], 1_000)
    write("newer-quick", "quick", ["ok", "ok", "ok"], 2_000)
    write("newer-full-failed", "full", ["ok", "failed", "ok"], 3_000)
    write("newest-session-b-alone", "full", [None, "ok", None], 4_000)  # a recipe candidate, not the week
    walls = bench.notebook_walls(tmp_path)
    assert walls == {"run": "old-full", NOTEBOOKS[0]: 60.0, NOTEBOOKS[1]: 120.0, NOTEBOOKS[2]: 180.0,
                     "total_s": 360.0}
    assert bench.notebook_walls(tmp_path / "nothing-here") == {}


def test_matmul_bound_is_measured():
    assert bench.matmul_gflops(n=256, repeats=2) > 0.1


def test_notebook_peaks_come_from_the_latest_full_run(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    peaks = (900.0, 2500.0, 1400.0)
    nbs = {nb: {"status": "ok", "wall_s": 10.0, "peak_rss_mb": mb} for nb, mb in zip(NOTEBOOKS, peaks, strict=True)}
    (folder / "run.json").write_text(json.dumps({"run_id": "r", "profile": "full", "notebooks": nbs}))
    assert bench.notebook_peaks(tmp_path) == {"run": "r", **{nb: v["peak_rss_mb"] for nb, v in nbs.items()}}


def test_the_table_shows_precision_both_bounds_speedups_and_memory(capsys):
    """What issue #12 asks `make bench` to print, from a bench.json-shaped record."""
    out = {
        "machine": "AMD EPYC", "cpus": 2, "bf16_flags": ["avx512_bf16"], "date": "2026-11-29",
        "bench_seconds": 300.0,
        "precision": {"name": "bf16", "reason": "CPU with native bf16", "device": "cpu"},
        "matmul_fp32_gflops": 200.0, "matmul_bf16_gflops": 800.0,
        "dpo": {"tokens_per_second": 400.0, "step_seconds": 2.0, "mfu": 0.4, "mfu_vs_fp32_bound": 1.6},
        "dpo_levers": {"prefix sharing": {"tokens_per_second": 250.0, "ratio": 1.6,
                                          "workbook_tokens_per_second": 400.0},
                       "bf16 autocast": {"tokens_per_second": 200.0, "ratio": 2.0}},
        "sft": {"workbook": {"tokens_per_second": 300.0, "batch_size": 4, "grad_accum": 2, "checkpointing": True}},
        "generation": {"dtype": "bfloat16", "batch_size": 32, "batched_tokens_per_s": 460.0,
                       "plain_batched_tokens_per_s": 340.0, "single_tokens_per_s": 46.0, "speedup": 10.0,
                       "speedup_plain": 7.4, "same_as_plain": "14/32"},
        "sampling": {"N=4": {"shared_tokens_per_s": 300.0, "naive_tokens_per_s": 200.0, "speedup": 1.5,
                             "identical_answers": "32/32"}},
        "memory": {"dpo_peak_mb": 1500.0, "runtime_mb": 430.0},
        "notebooks_full_profile": {"run": "r", "02": 1200.0, "total_s": 1200.0},
        "notebook_peaks_mb": {"run": "r", "02": 2048.0},
    }
    bench.print_table(out)
    text = capsys.readouterr().out
    for needle in ("precision used", "bf16", "DPO MFU vs the bf16 bound", "40%", "DPO MFU vs the fp32 bound",
                   "160%", "batched is 10.0x (target >= 6x", "1.50x the naive way", "peak 2.00 GB",
                   "target <= 2.5 GB", "without prefix sharing", "settings are 1.60x (timed just before: 400)",
                   "settings are 2.00x", "SFT bootstrap, workbook", "micro-batch 4 x 2"):
        assert needle in text, needle
