"""Faults in long work: kills, torn saves, re-runs of finished work, concurrent writers, same-second runs.

Each test does to the workbook what an interrupted or careless week does (kill -9 in the middle of a build or a
training run, retraining an adapter into the same folder, starting two runs at once) and checks that nothing is
lost, nothing is repeated, and nothing stale is reused.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers import preferences as prefs
from helpers import training, workbook
from helpers.cache import checkpoint_problem, last_checkpoint
from helpers.task import load_split
from tests.test_training import _config, _rows

REPO = Path(__file__).resolve().parents[1]

SAMPLER = textwrap.dedent("""
    import json, sys, time
    from helpers import preferences as prefs
    from helpers.judges import RubricJudge
    from helpers.models import tiny_model
    from helpers.task import load_split

    class SlowJudge(RubricJudge):  # sys.argv[2] s per batch: slow enough to be killed in the middle
        calls = 0
        def score_many(self, items, progress=False):
            time.sleep(float(sys.argv[2]))
            SlowJudge.calls += len(items)
            return [self.score(e, t) for e, t in items]

    model, tokenizer = tiny_model()
    examples = load_split("prefs")[:12]
    prefs.sample_and_score(examples, model, tokenizer, SlowJudge(), sys.argv[1], temperatures=(0.7, 1.2, 1.0, 1.0),
                           max_new_tokens=8, batch_size=8, chunk_size=4, seed=0, progress=False)
    print(json.dumps({"score_calls": SlowJudge.calls}))
""")


def _spawn(script: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    t0 = time.time()
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the child ended before the kill point: {proc.stderr.read()[-2000:]}")
        if time.time() - t0 > timeout:
            proc.kill()
            raise AssertionError("timed out waiting for the kill point")
        time.sleep(0.05)


def _log_ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip()]


def test_a_killed_preference_build_loses_at_most_one_batch_and_resumes_without_duplicates(tiny, tmp_path):
    from helpers.judges import RubricJudge

    log = tmp_path / "samples.jsonl"
    child = _spawn(SAMPLER, log, 0.4)
    _wait_for(lambda: log.exists() and len(_log_ids(log)) >= 2, child)
    os.kill(child.pid, signal.SIGKILL)  # kill -9: no cleanup, no flush
    child.wait()
    before = log.read_text()
    n_before = len(_log_ids(log))
    assert 2 <= n_before < 12  # the kill landed in the middle; every batch written before it is whole

    model, tokenizer = tiny
    examples = load_split("prefs")[:12]
    records = prefs.sample_and_score(examples, model, tokenizer, RubricJudge(), log,
                                     temperatures=(0.7, 1.2, 1.0, 1.0), max_new_tokens=8, batch_size=8,
                                     chunk_size=4, seed=0, progress=False)
    ids = _log_ids(log)
    assert log.read_text().startswith(before.rsplit("\n", 1)[0])  # what was written before the kill is kept as is
    assert sorted(ids) == sorted(e["id"] for e in examples)  # all done, none twice
    assert [r["id"] for r in records] == [e["id"] for e in examples]
    assert all(r["status"] == "scored" for r in records)


def test_two_concurrent_builds_on_one_log_neither_corrupt_it_nor_repeat_work(tmp_path):
    log = tmp_path / "samples.jsonl"
    first = _spawn(SAMPLER, log, 2.0)  # 6 batches: ~12 s, longer than the second one takes to start
    _wait_for(lambda: log.exists(), first)
    second = _spawn(SAMPLER, log, 2.0)
    done = [p.communicate(timeout=300) for p in (first, second)]
    outs = [json.loads(out.strip().splitlines()[-1]) for out, _ in done]
    ids = _log_ids(log)
    assert len(ids) == len(set(ids)) == 12  # every prompt once, every line whole JSON
    assert sum(o["score_calls"] for o in outs) == 12 * 4  # the second build found the work done
    assert "another process is writing" in done[1][1]


def test_editing_an_example_redoes_its_record_and_duplicate_ids_are_refused(tiny, tmp_path):
    from helpers.judges import RubricJudge

    model, tokenizer = tiny
    examples = load_split("prefs")[:4]
    log = tmp_path / "samples.jsonl"
    kwargs = dict(temperatures=(0.7, 1.2), max_new_tokens=8, batch_size=4, seed=0, progress=False)
    prefs.sample_and_score(examples, model, tokenizer, RubricJudge(), log, **kwargs)
    edited = [dict(e) for e in examples]
    edited[1]["severity"] = "SEV4" if edited[1]["severity"] != "SEV4" else "SEV1"  # relabelled, same id
    records = prefs.sample_and_score(edited, model, tokenizer, RubricJudge(), log, **kwargs)
    ids = _log_ids(log)  # batches are written in length order
    assert sorted(ids[:4]) == sorted(e["id"] for e in examples) and ids[4:] == [examples[1]["id"]]
    assert records[1]["severity"] == edited[1]["severity"]
    with pytest.raises(ValueError, match=f"duplicate example id '{examples[0]['id']}'"):
        prefs.sample_and_score([examples[0], examples[0]], model, tokenizer, RubricJudge(), log, **kwargs)


def test_caches_follow_the_sft_weights_not_the_folder(tiny_sft, tmp_path):
    import shutil

    from datasets import Dataset
    from safetensors.torch import load_file, save_file

    base, sft = tiny_sft
    folder = tmp_path / "my-sft"
    shutil.copytree(sft, folder)
    config = _config(base, folder, tmp_path, checkpoint_dir="")
    train = Dataset.from_list(_rows(4))
    key, log = training.run_key(config, train), prefs.log_path(folder, "rubric", {"seed": 0})
    weights = load_file(folder / "adapter_model.safetensors")
    save_file({k: v + 0.01 for k, v in weights.items()}, folder / "adapter_model.safetensors")  # retrained in place
    assert training.run_key(config, train) != key
    assert prefs.log_path(folder, "rubric", {"seed": 0}) != log
    moved = tmp_path / "moved"
    shutil.copytree(folder, moved)  # the same weights elsewhere: the same caches
    assert training.run_key(_config(base, moved, tmp_path, checkpoint_dir=""), train) == training.run_key(config, train)


def test_a_finished_dpo_run_is_reused_not_trained_past_its_end(tiny_sft, tmp_path):
    from datasets import Dataset

    base, sft = tiny_sft
    train, val = Dataset.from_list(_rows(4)), Dataset.from_list(_rows(2))
    config = _config(base, sft, tmp_path, max_steps=2)
    first = training.train_dpo(config, train, val, out_dir=tmp_path / "run1")
    again = training.train_dpo(config, train, val, out_dir=tmp_path / "run2")
    assert again["global_steps"] == first["global_steps"] == 2
    assert again["log_history"] == first["log_history"] and again["final_eval"] == first["final_eval"]
    assert again["reused_from"].endswith("finished") and "reused_from" not in first
    assert ((tmp_path / "run2/dpo_adapter/adapter_model.safetensors").read_bytes()
            == (tmp_path / "run1/dpo_adapter/adapter_model.safetensors").read_bytes())
    assert json.loads((tmp_path / "run2/train_summary.json").read_text())["global_steps"] == 2


def test_a_torn_checkpoint_is_skipped_with_one_warning(tiny_sft, tmp_path, interrupt):
    from datasets import Dataset

    base, sft = tiny_sft
    train, val = Dataset.from_list(_rows(8)), Dataset.from_list(_rows(2))
    config = _config(base, sft, tmp_path, max_steps=4, eval_steps=10)
    with pytest.raises(KeyboardInterrupt):
        training.train_dpo(config, train, val, out_dir=tmp_path / "run", callbacks=[interrupt(2, "on_save")])
    torn = tmp_path / "ckpt" / "checkpoint-2"
    (torn / "trainer_state.json").unlink()  # the kill came in the middle of writing checkpoint-2
    (tmp_path / "ckpt" / "checkpoint-3").mkdir()  # and an empty one, as a full disk leaves
    assert checkpoint_problem(torn) == "no trainer_state.json"
    with pytest.warns(UserWarning) as caught:
        assert last_checkpoint(tmp_path / "ckpt").endswith("checkpoint-1")
    assert len(caught) == 2 and all("\n" not in str(w.message) for w in caught)
    assert "skipping the incomplete checkpoint" in str(caught[0].message)
    with pytest.warns(UserWarning, match="incomplete checkpoint"):
        summary = training.train_dpo(config, train, val, out_dir=tmp_path / "run")
    assert summary["resumed_from"].endswith("checkpoint-1") and summary["global_steps"] == 4


DPO_CHILD = textwrap.dedent("""
    import sys, time
    from datasets import Dataset
    from transformers import TrainerCallback
    from helpers import training
    from tests.test_training import _config, _rows

    class Slow(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            time.sleep(1.0)

    base, sft, tmp = sys.argv[1:4]
    config = _config(base, sft, __import__("pathlib").Path(tmp), max_steps=4, eval_steps=10)
    training.train_dpo(config, Dataset.from_list(_rows(8)), Dataset.from_list(_rows(2)), out_dir=tmp + "/run",
                       callbacks=[Slow()])
""")


def test_a_killed_dpo_run_resumes_from_its_last_checkpoint_and_stops_at_its_end(tiny_sft, tmp_path):
    from datasets import Dataset

    base, sft = tiny_sft
    child = _spawn(DPO_CHILD, base, sft, tmp_path)
    _wait_for(lambda: (tmp_path / "ckpt/checkpoint-2/trainer_state.json").exists(), child, timeout=300)
    time.sleep(0.3)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert not (tmp_path / "ckpt/finished").exists()
    resume_from = last_checkpoint(tmp_path / "ckpt")
    config = _config(base, sft, tmp_path, max_steps=4, eval_steps=10)
    summary = training.train_dpo(config, Dataset.from_list(_rows(8)), Dataset.from_list(_rows(2)),
                                 out_dir=tmp_path / "run")
    assert summary["resumed_from"] == resume_from and summary["global_steps"] == 4
    steps = [h["step"] for h in summary["log_history"] if "loss" in h]
    assert steps == [1, 2, 3, 4]  # the steps before the kill from the checkpoint, the rest after; none twice


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path):
    folders = {workbook.new_run_dir(tmp_path, "smoke") for _ in range(3)}
    assert len(folders) == 3 and all(p.is_dir() for p in folders)
    named = workbook.new_run_dir(tmp_path, "smoke", run_id="mine")
    (named / "run.json").write_text("{}")
    with pytest.raises(FileExistsError, match="pass --resume") as err:
        workbook.new_run_dir(tmp_path, "smoke", run_id="mine")
    assert "\n" not in str(err.value)
    assert workbook.new_run_dir(tmp_path, "smoke", run_id="mine", resume=True) == named
    assert (named / "run.json").read_text() == "{}"


def test_concurrent_runners_never_share_a_run_folder(tmp_path):
    script = ("import sys; from pathlib import Path; from helpers.workbook import new_run_dir; "
              "print(new_run_dir(Path(sys.argv[1]), 'smoke'))")
    procs = [_spawn(script, tmp_path) for _ in range(4)]
    folders = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert len(set(folders)) == 4, folders


@pytest.mark.parametrize("stop", [{"max_steps": 2}, {"max_steps": -1, "epochs": 1.0}], ids=["max_steps", "epochs"])
def test_a_run_killed_after_its_last_checkpoint_does_not_train_past_its_end(tiny_sft, tmp_path, stop):
    import shutil

    from datasets import Dataset

    base, sft = tiny_sft
    train, val = Dataset.from_list(_rows(4)), Dataset.from_list(_rows(2))
    config = _config(base, sft, tmp_path, **stop)
    first = training.train_dpo(config, train, val, out_dir=tmp_path / "run1")
    shutil.rmtree(tmp_path / "ckpt" / "finished")  # killed after the last checkpoint, before the finished marker
    again = training.train_dpo(config, train, val, out_dir=tmp_path / "run2")
    assert again["global_steps"] == first["global_steps"] == 2
    assert [h["step"] for h in again["log_history"] if "loss" in h] == [1, 2]


@pytest.mark.parametrize("corrupt", [b"{broken\n", b"\xff\xfe not utf-8\n", b"[1, 2]\n"],
                         ids=["not-json", "not-utf8", "not-an-object"])
def test_a_corrupt_line_in_the_sample_log_names_the_log_and_the_fix(tiny, tmp_path, corrupt):
    from helpers.judges import RubricJudge

    log = tmp_path / "run" / "samples.jsonl"
    log.parent.mkdir()
    log.write_bytes(b'{"id": "x", "status": "scored"}\n' + corrupt + b'{"id": "y", "status": "scored"}\n')
    model, tokenizer = tiny
    with pytest.raises(prefs.PreferenceDataError) as err:
        prefs.sample_and_score(load_split("prefs")[:2], model, tokenizer, RubricJudge(), log,
                               temperatures=(0.7, 1.2), max_new_tokens=4, batch_size=2, seed=0, progress=False)
    line = str(err.value)
    assert "\n" not in line and f"{log}:2" in line and f"delete {log}" in line and "delete that line" in line
