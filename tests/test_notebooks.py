import json
import re
import subprocess
import sys

import papermill as pm
import pytest

from helpers import gitfilter, memory, paths, workbook
from helpers.workbook import NOTEBOOKS, notebook_parameters, notebook_path


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_is_clean(name):
    nb = json.loads(notebook_path(name).read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{name}: cells {dirty} carry outputs; clear them before committing"
    assert "widgets" not in nb["metadata"], f"{name}: widget state in metadata"
    tagged = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1, f"{name}: needs exactly one cell tagged 'parameters'"
    assert nb["metadata"]["kernelspec"]["name"] == workbook.KERNEL


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_is_in_the_git_filters_form(name):
    """Byte for byte what the notebooks' git filter makes of it (key order, indent, stripped keys): else a fresh
    clone with the filter installed shows the notebook modified before the learner has touched it."""
    path = notebook_path(name)
    text = path.read_text()
    clean = subprocess.run([sys.executable, "-m", "nbstripout", "--extra-keys", gitfilter.EXTRA_KEYS], input=text,
                           capture_output=True, text=True, check=True).stdout
    assert clean == text, (f"{name}: not in the git filter's form; run .venv/bin/python -c \"from helpers.gitfilter "
                           f"import strip; strip(['notebooks/{name}.ipynb'])\"")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_papermill_reads_the_same_parameters_we_do(name):
    """papermill silently ignores a parameters-cell line it cannot parse (e.g. '=' in a comment)."""
    ours = notebook_parameters(notebook_path(name))
    assert list(pm.inspect_notebook(str(notebook_path(name)))) == list(ours)
    assert {"run_dir", "profile", "seed"} <= set(ours)


def test_profiles_name_only_real_parameters():
    assert workbook.profile_problems() == []
    profiles = workbook.load_profiles()
    assert {"full", "quick", "smoke"} <= set(profiles)
    for name, per_notebook in profiles.items():
        assert set(per_notebook) == set(NOTEBOOKS), name


def test_a_typo_in_a_profile_is_caught():
    bad = {"smoke": {"03_three_way_eval": {"n_evals": 4}, "04_extra": {}}}
    problems = workbook.profile_problems(bad)
    assert any("'n_evals' is not defined" in p for p in problems)
    assert any("unknown notebook '04_extra'" in p for p in problems)
    assert workbook.profile_problems({"smoke": {"01_dpo_math": {"run_dir": "x"}}})


def test_full_profile_builds_the_week(tmp_path):
    """The full profile is the real week: >= 500 preference prompts, N >= 4 answers each, pairs that differ in the
    severity alone, all 140 held-out prompts (the power to see an effect); the notebook's own default stays the
    course's 30."""
    params = workbook.parameters_for("full", "02_preferences_and_dpo", tmp_path)
    defaults = notebook_parameters(notebook_path("02_preferences_and_dpo"))
    full = {**defaults, **params}
    assert full["n_pref_prompts"] >= 500 and len(full["sample_temperatures"]) >= 4
    assert full["pair_strategy"] == "severity_contrast" and {0.7, 1.2} <= set(full["sample_temperatures"])
    assert full["learning_rate"] == 3e-4 and full["epochs"] == 2.0  # issue #15's measured recipe
    assert {**notebook_parameters(notebook_path("03_three_way_eval")),
            **workbook.parameters_for("full", "03_three_way_eval", tmp_path)}["n_eval"] == 140
    assert notebook_parameters(notebook_path("03_three_way_eval"))["n_eval"] == 30


@pytest.mark.slow
def test_smoke_run_executes_all_notebooks_and_records_metrics(tmp_path):
    # the learner's notes and releases go to the repository by default; here they stay in the test's folder
    run_dir = workbook.run("smoke", run_id="ci", runs_dir=tmp_path,
                           overrides={"notes_dir": str(tmp_path / "notes"), "releases_dir": str(tmp_path / "releases")})
    record = json.loads((run_dir / "run.json").read_text())
    assert [record["notebooks"][n]["status"] for n in NOTEBOOKS] == ["ok"] * 3
    from helpers.models import precision_used

    assert record["precision"] == precision_used()
    peaks = [record["notebooks"][n]["peak_rss_mb"] for n in NOTEBOOKS]
    assert all(300 < p < 3 * 1024 for p in peaks), peaks  # a kernel with torch loaded, and within the 3 GB budget
    for name in NOTEBOOKS:
        executed = json.loads((run_dir / f"{name}.ipynb").read_text())
        assert any(c.get("outputs") for c in executed["cells"] if c["cell_type"] == "code")
        # the runner checks the exercises' reference answers: each check cell printed its ✓
        printed = "".join("".join(o.get("text", "")) for c in executed["cells"] if c["cell_type"] == "code"
                          for o in c.get("outputs", []) if o.get("output_type") == "stream")
        passed = re.findall(r"^✓ .*\(reference answer\)", printed, flags=re.MULTILINE)
        assert len(passed) >= 3, f"{name}: {len(passed)} exercise checks passed in reference mode"
        failed = re.findall(r"^✗ .*\(reference answer\).*", printed, flags=re.MULTILINE)
        assert not failed, f"{name}: a reference answer failed its own check: {failed}"
    m1 = paths.load_metrics(run_dir, "01_dpo_math")
    assert m1["closed_form_max_diff"] < 1e-4 and m1["trl_loss_difference"] < 1e-5
    assert m1["reward_correlation"] >= 0.95 and m1["dpo_rlhf_tv"] < 0.02
    m2 = paths.load_metrics(run_dir, "02_preferences_and_dpo")
    assert m2["n_triples"] >= 6  # 12 smoke prompts, ties dropped
    assert (run_dir / "dpo_adapter" / "adapter_config.json").exists()
    assert 0 < m2["final"]["loss"] < 50 and m2["kl"]["0"] == pytest.approx(0, abs=1e-4)  # KL starts at 0
    assert {"two_temperatures", "best_vs_worst", "severity_contrast"} <= set(m2["quality"])  # every recipe's report
    for strategy in ("best_vs_worst", "severity_contrast"):  # rubric scores: never the wrong severity chosen
        assert m2["quality"][strategy]["anti-signal pairs (chosen wrong, rejected right)"] == 0
    assert set(m2["recipe_contrast"]["severity"]) == {"SFT", f"SFT+DPO ({m2['pair_strategy']})",
                                                      "SFT+DPO (two_temperatures)"}
    split = m2["margin_split"]  # the validation pairs' margins, split into the severity digit and the rest
    assert split["pairs"] >= 1 and 0 <= split["severity digit's share of |margin|"] <= 1
    m3 = paths.load_metrics(run_dir, "03_three_way_eval")
    assert m3["n_eval"] == 4 and m3["judge_missing"] == 0
    rows = {r["Metric"]: r for r in m3["table"]}
    assert set(rows) >= {"Format-conformance", "Severity match", "Faithfulness (judge)",
                         "Preferred (judge pairwise vs SFT)"}
    assert all(0 <= rows["Format-conformance"][m] <= 1 for m in ("Base", "SFT", "SFT+DPO"))
    assert all(0 < rows["P(right severity)"][m] < 1 for m in ("Base", "SFT", "SFT+DPO"))
    for name in ("three_way_table.md", "three_way_table.csv", "run_card.md", "run_card.json", "reflection_draft.md",
                 "summary.md", "preferences.jsonl"):
        assert (run_dir / name).exists(), name


def test_peak_memory_catches_a_short_spike_in_a_child_process():
    import subprocess
    import sys

    spike = "import time; b = bytearray(400 * 2 ** 20); b[::4096] = b'x' * len(b[::4096]); del b; time.sleep(0.6)"
    with memory.PeakMemory(interval=0.2) as peak:
        subprocess.run([sys.executable, "-c", spike], check=True)
    assert 400 <= peak.mb < 600


def test_peak_memory_does_not_add_peaks_that_came_at_different_times():
    import subprocess
    import sys

    # the first child peaks at 400 MB and gives it back; the second holds 300 MB later, while the first still lives
    early = ("import time; b = bytearray(400 * 2 ** 20); b[::4096] = b'x' * len(b[::4096]); del b; "
             "time.sleep(2.0)")
    late = ("import time; time.sleep(0.6); b = bytearray(300 * 2 ** 20); b[::4096] = b'x' * len(b[::4096]); "
            "time.sleep(0.8)")
    with memory.PeakMemory(interval=0.1) as peak:
        children = [subprocess.Popen([sys.executable, "-c", code]) for code in (early, late)]
        assert [c.wait() for c in children] == [0, 0]
    assert 400 <= peak.process_mb < 500 and 300 <= peak.concurrent_mb < 400
    assert peak.hwm_sum_mb >= 700 and peak.mb == round(peak.process_mb, 1)
    assert set(peak.detail()) == {"one_process_mb", "all_at_once_mb", "hwm_sum_upper_bound_mb"}


def test_a_child_of_a_large_process_reports_its_own_peak():
    """high_water_mb reads the child's own peak; ru_maxrss, carried across exec, would report the parent's size
    (the bench's fresh-process DPO peak once read 4.1 GB for every setting that way)."""
    import subprocess
    import sys

    held = bytearray(600 * 2 ** 20)
    held[::4096] = b"x" * len(held[::4096])  # this process now holds 600 MB more
    code = ("import resource; from helpers.memory import high_water_mb; "
            "print(high_water_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    own, maxrss = map(float, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                            check=True).stdout.split())
    parent = memory.high_water_mb()
    del held
    assert parent > 600 and own < 200, (parent, own)
    assert maxrss > 600  # why not ru_maxrss


def test_missing_metrics_point_to_the_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match="03_three_way_eval.ipynb"):
        paths.load_metrics(tmp_path, "03_three_way_eval")


def test_memory_by_cell_names_the_cell_that_held_the_most(tmp_path):
    def times(i):
        return {"start_time": f"2026-11-29T04:00:{10 * i:02d}.000000Z",
                "end_time": f"2026-11-29T04:00:{10 * i + 9:02d}.000000Z"}

    cells = [{"cell_type": "code", "source": [f"step_{i}()\n"], "metadata": {"papermill": times(i)}}
             for i in range(3)]
    (tmp_path / "nb.ipynb").write_text(json.dumps({"cells": cells}))
    import datetime as dt

    t0 = dt.datetime(2026, 11, 29, 4, 0, tzinfo=dt.timezone.utc).timestamp()
    trace = [(t0 + s, 500.0 + (2000.0 if 12 <= s <= 15 else 0.0)) for s in range(0, 30)]
    (tmp_path / "nb.memory.json").write_text(json.dumps(trace))
    frame = memory.memory_by_cell(tmp_path, "nb")
    assert frame.iloc[0]["code"] == "step_1()" and frame.iloc[0]["peak_mb"] == 2500.0
    assert len(frame) == 3
