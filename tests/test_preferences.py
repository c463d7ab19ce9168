import json

import pytest

from helpers import preferences as prefs
from helpers.judges import RubricJudge, Verdict
from helpers.preferences import PreferenceDataError, validate_preferences
from helpers.task import load_split

GOOD_ROW = {"prompt": [{"role": "system", "content": "triage"}, {"role": "user", "content": "checkout-api down"}],
            "chosen": [{"role": "assistant", "content": '{"severity": "SEV1"}'}],
            "rejected": [{"role": "assistant", "content": "SEV3"}]}


@pytest.mark.parametrize("row, reason", [
    ({k: v for k, v in GOOD_ROW.items() if k != "rejected"}, "missing key(s): rejected"),
    ({**GOOD_ROW, "chosen": GOOD_ROW["rejected"]}, "identical"),
    ({**GOOD_ROW, "chosen": [{"role": "assistant", "content": "  "}]}, "empty content"),
    ({**GOOD_ROW, "chosen": "SEV1"}, "wrong types"),
    ({**GOOD_ROW, "chosen": [{"role": "user", "content": "x"}]}, "has role 'user'"),
    ({**GOOD_ROW, "rejected": [{"content": "x"}]}, "is not a {'role': str, 'content': str} message"),
    ({**GOOD_ROW, "prompt": GOOD_ROW["prompt"][:1]}, "must end with a user message"),
    ({**GOOD_ROW, "prompt": []}, "non-empty list"),
    ({"prompt": "p", "chosen": "", "rejected": "r"}, "chosen is empty"),
    ("just text", "not a mapping"),
])
def test_every_bad_row_is_named_with_its_reason(row, reason):
    rows = [GOOD_ROW, GOOD_ROW, row]
    bad = validate_preferences(rows, raise_on_error=False)
    assert [i for i, _ in bad] == [2] and reason in bad[0][1]
    with pytest.raises(PreferenceDataError) as err:
        validate_preferences(rows)
    assert "row 2" in str(err.value) and reason in str(err.value) and "1 of 3" in str(err.value)


def test_good_rows_pass():
    assert validate_preferences([GOOD_ROW, {"prompt": "p", "chosen": "a", "rejected": "b"}]) == []


class ScriptedJudge:
    """Picks the answer with the higher letter count of 'S' (stand-in judge), fails on chosen ids, and can
    interrupt the run after n calls, like a Ctrl-C in the middle of judging."""

    name = "scripted"

    def __init__(self, fail_ids=(), interrupt_after=None):
        self.fail_ids, self.interrupt_after, self.calls = set(fail_ids), interrupt_after, 0

    def compare_many(self, items, progress=False):
        out = []
        for example, a, b in items:
            self.calls += 1
            if self.interrupt_after is not None and self.calls > self.interrupt_after:
                raise KeyboardInterrupt
            if example["id"] in self.fail_ids:
                out.append(Verdict(None, "judge call failed", self.name, failed=True, error="HTTP 529"))
            else:
                out.append(RubricJudge().compare(example, a, b))
        return out


def test_build_resumes_after_an_interruption_and_retries_failures(tiny, tmp_path):
    model, tokenizer = tiny
    examples = load_split("prefs")[:12]
    out = tmp_path / "pairs.jsonl"
    kwargs = dict(max_new_tokens=12, batch_size=6, chunk_size=4, seed=0, progress=False)
    with pytest.raises(KeyboardInterrupt):
        prefs.build_preference_dataset(examples, model, tokenizer, ScriptedJudge(interrupt_after=6), out, **kwargs)
    first = prefs.read_records(out)
    assert len(first) == 4  # the first chunk was written before the interruption; nothing of it is lost
    with out.open("a") as f:
        f.write('{"id": "torn')  # a write torn by the interruption
    judge = ScriptedJudge(fail_ids={examples[5]["id"]})
    ds, records = prefs.build_preference_dataset(examples, model, tokenizer, judge, out, **kwargs)
    assert judge.calls == 8  # only the 8 undecided prompts were judged
    assert [r["id"] for r in records] == [e["id"] for e in examples]
    assert [r for r in records if r["id"] == examples[5]["id"]][0]["status"] == "judge_failed"
    assert all(r["verdict"] is not None for r in records if r["status"] != "judge_failed")

    retry = ScriptedJudge()
    ds, records = prefs.build_preference_dataset(examples, model, tokenizer, retry, out, **kwargs)
    assert retry.calls == 1  # the failed prompt is retried, nothing else
    assert "judge_failed" not in {r["status"] for r in records}
    kept = [r for r in records if r["status"] == "kept"]
    assert len(ds["train"]) + len(ds["validation"]) == len(kept)
    for r in kept:
        assert r["chosen"] != r["rejected"] and {r["temperature_chosen"], r["temperature_rejected"]} == {0.7, 1.2}
        assert r["prompt"][-1]["content"] in {e["report"] for e in examples}
    assert validate_preferences(prefs.triples(records)) == []


def test_ties_and_identical_pairs_are_dropped_and_counted():
    ex = load_split("prefs")[0]
    same = prefs._record(ex, "x", "x", 0.7, 1.2, Verdict("tie", "", "r"))
    tie = prefs._record(ex, "x", "y", 0.7, 1.2, Verdict("tie", "", "r"))
    kept = prefs._record(ex, "x", "y", 1.2, 0.7, Verdict("b", "", "r"))
    assert (same["status"], tie["status"], kept["status"]) == ("identical", "tie", "kept")
    assert kept["chosen"][0]["content"] == "y" and kept["temperature_chosen"] == 0.7
    report = prefs.quality_report([same, tie, kept])
    assert report.loc["triples kept", "value"] == 1 and report.loc["ties dropped", "value"] == 1
    assert report.loc["identical pairs dropped", "value"] == 1


def _ultrafeedback_rows():
    rows = []
    for i in range(5):
        p = f"Question {i}?"
        rows.append({"prompt": p, "prompt_id": f"id{i}",
                     "chosen": [{"role": "user", "content": p}, {"role": "assistant", "content": f"Good {i}"}],
                     "rejected": [{"role": "user", "content": p}, {"role": "assistant", "content": f"Bad {i}"}],
                     "messages": [{"role": "user", "content": p}], "score_chosen": 8.0, "score_rejected": 3.0})
    return rows


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_ultrafeedback_converter(tmp_path, fmt):
    import pandas as pd

    path = tmp_path / f"uf.{fmt}"
    frame = pd.DataFrame(_ultrafeedback_rows())
    frame.to_parquet(path) if fmt == "parquet" else frame.to_json(path, orient="records", lines=True)
    rows = prefs.load_ultrafeedback(str(path), limit=4)
    assert len(rows) == 4
    assert rows[1]["prompt"] == [{"role": "user", "content": "Question 1?"}]
    assert rows[1]["chosen"] == [{"role": "assistant", "content": "Good 1"}]
    assert rows[1]["rejected"] == [{"role": "assistant", "content": "Bad 1"}]
    assert rows[1]["score_chosen"] == 8.0 and rows[1]["id"] == "id1"
    assert validate_preferences(rows) == []


def test_ultrafeedback_bad_rows_are_named(tmp_path):
    rows = _ultrafeedback_rows()
    rows[2]["chosen"] = [{"role": "assistant", "content": "no user turn"}]
    rows[4]["rejected"] = rows[4]["rejected"][:1]
    path = tmp_path / "uf.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(PreferenceDataError) as err:
        prefs.load_ultrafeedback(str(path))
    assert "row 2: chosen must start with the user turn" in str(err.value)
    assert "row 4: rejected has no assistant answer" in str(err.value)


def test_ultrafeedback_offline_hub_error_says_what_to_do():
    with pytest.raises(FileNotFoundError, match="local path"):
        prefs.load_ultrafeedback("HuggingFaceH4/ultrafeedback_binarized", limit=2)
