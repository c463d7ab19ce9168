import json
import re

import numpy as np
import pandas as pd
import pytest

from helpers import evaluation as ev
from helpers.evaluation import answers
from helpers.judges import RubricJudge, Verdict
from helpers.models import AdapterError, ModelNotFoundError
from helpers.task import format_answer, load_split

EXAMPLES = load_split("eval")[:6]


def gold(e, **override):
    return format_answer(override.get("severity", e["severity"]), e["component"], e["summary"])


def test_cached_answers_generate_once(tiny, tmp_path, monkeypatch):
    model, tokenizer = tiny
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    first = ev.cached_answers("SFT+DPO", str(tmp_path / "m"), None, EXAMPLES[:3], tmp_path / "gen", max_new_tokens=6)
    calls = []
    monkeypatch.setattr(answers, "answer_reports", lambda *a, **k: calls.append(a) or ["x"] * len(a[2]))
    again = ev.cached_answers("SFT+DPO", str(tmp_path / "m"), None, EXAMPLES[:3], tmp_path / "gen", max_new_tokens=6)
    assert again == first and calls == []  # scoring again costs no generation
    more = ev.cached_answers("SFT+DPO", str(tmp_path / "m"), None, EXAMPLES[:4], tmp_path / "gen", max_new_tokens=6)
    assert more[:3] == first and len(calls) == 1 and len(calls[0][2]) == 1  # only the new prompt is generated


class FlakyJudge(RubricJudge):
    """The rubric judge, except that it fails on one example id (as an API call would)."""

    def __init__(self, fail_id):
        self.fail_id = fail_id

    def compare(self, example, a, b):
        if example["id"] == self.fail_id:
            return Verdict(None, "judge call failed", "flaky", failed=True, error="HTTP 529")
        return super().compare(example, a, b)


def _answers():
    sft = [gold(e, severity="SEV4" if i < 4 else e["severity"]) for i, e in enumerate(EXAMPLES)]
    dpo = [gold(e) for e in EXAMPLES]  # DPO fixes the severity on the first four
    base = ["no idea"] * len(EXAMPLES)
    return {"Base": base, "SFT": sft, "SFT+DPO": dpo}


def test_pairwise_scores_and_failures_are_missing_not_verdicts():
    answers = _answers()
    pair = ev.pairwise(EXAMPLES, answers["SFT"], answers["SFT+DPO"], FlakyJudge(EXAMPLES[1]["id"]), progress=False)
    scores = pair["score"].tolist()
    sft_already_right = [e["severity"] == "SEV4" for e in EXAMPLES[:4]]
    expected = [0.5 if ok else 1.0 for ok in sft_already_right] + [0.5, 0.5]
    expected[1] = np.nan
    assert np.allclose(scores, expected, equal_nan=True)
    assert pair.loc[1, "error"] == "HTTP 529"


def test_three_way_table_and_flags():
    answers = _answers()
    scores = ev.per_prompt_scores(EXAMPLES, answers, RubricJudge(), progress=False)
    pair = ev.pairwise(EXAMPLES, answers["SFT"], answers["SFT+DPO"], RubricJudge(), progress=False)
    table = ev.three_way_table(scores, pair, n_boot=2000)
    assert table.loc["Format-conformance", "Base"] == 0 and table.loc["Format-conformance", "SFT"] == 1
    sev = table.loc["Severity match"]
    n_fixed = sum(e["severity"] != "SEV4" for e in EXAMPLES[:4])
    assert sev["Δ DPO over SFT"] == pytest.approx(n_fixed / 6)
    assert sev["Δ low"] <= sev["Δ DPO over SFT"] <= sev["Δ high"]
    assert sev["p (sign)"] == pytest.approx(2 / 2 ** n_fixed)
    pref = table.loc["Preferred (judge pairwise vs SFT)"]
    assert pref["SFT+DPO"] > 0.5 and pref["wins/ties/losses"] == f"{n_fixed}/{6 - n_fixed}/0"
    shown = ev.display_table(table)
    assert list(shown.columns[:4]) == ["Base", "SFT", "SFT+DPO", "Δ DPO over SFT"]
    assert shown.loc["Preferred (judge pairwise vs SFT)", "Base"] == "-"
    md = ev.to_markdown(shown)
    assert md.startswith("| Metric | Base | SFT | SFT+DPO | Δ DPO over SFT |")

    # with 6 prompts nothing is significant: the gap grew, the eval did not (provably) move
    assert any("necessary, not sufficient" in f for f in ev.failure_flags(table, {"final": {"rewards/margins": 0.3}}))
    significant = table.copy()
    significant.loc["Severity match", "p (sign)"] = 0.01
    assert ev.failure_flags(significant, {"final": {"rewards/margins": 0.3}, "kl": {0: 0.0, 10: 0.4}}) == []
    stuck = ev.failure_flags(significant, {"final": {"rewards/margins": 0.3}, "kl": {0: 0.0, 10: 0.01}})
    assert any("barely moved" in f for f in stuck)
    longer = table.copy()
    longer.loc["Length (chars)", "Δ DPO over SFT"] = 0.5 * longer.loc["Length (chars)", "SFT"]
    assert any("verbosity" in f for f in ev.failure_flags(longer, None))
    mixed = table.copy()
    mixed.loc["Faithfulness (judge)", "Δ DPO over SFT"] = -0.3
    assert any("won on" in f and "lost on Faithfulness" in f for f in ev.failure_flags(mixed, None))

    text = ev.reflection_scaffold(table, ["a flag"], 540, "rubric")
    assert "540 preference triples" in text and "- a flag" in text and 150 < ev.word_count(text) < 400


def test_missing_adapters_name_the_notebook_that_makes_them(tmp_path, monkeypatch):
    from helpers import paths

    runs = tmp_path / "runs"
    monkeypatch.setattr(paths, "RUNS_DIR", runs)
    empty = runs / "interactive"
    empty.mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=f"run_dir {empty}: run notebooks/02_preferences_and_dpo.ipynb"):
        ev.resolve_adapters(empty)
    done = runs / "20261129-063512-full"  # what `make workbook` made: the error points there
    done.mkdir()
    (done / "02_preferences_and_dpo.metrics.json").write_text(json.dumps(
        {"sft_adapter": str(tmp_path / "sft"), "dpo_adapter": str(tmp_path / "dpo")}))
    with pytest.raises(FileNotFoundError, match='set run_dir = "runs/20261129-063512-full"') as err:
        ev.resolve_adapters(empty)
    assert "\n" not in str(err.value)
    with pytest.raises(ModelNotFoundError, match="SFT adapter is missing: no PEFT adapter at .*: notebooks/02_pre"):
        ev.resolve_adapters(done)
    for name in ("sft", "dpo"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    sft_folder = re.escape(str((tmp_path / "sft").resolve()))
    with pytest.raises(AdapterError, match=f"no adapter weights .* in {sft_folder}"):  # broken, not missing: as it is
        ev.resolve_adapters(done)
    for name in ("sft", "dpo"):
        (tmp_path / name / "adapter_model.safetensors").write_bytes(b"")
    assert ev.resolve_adapters(done) == ((tmp_path / "sft").resolve(), (tmp_path / "dpo").resolve())


def test_checklist(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "README.md").write_text("x")
    (tmp_path / "preferences.jsonl").write_text("{}\n" * 510)
    table = ev.checklist(tmp_path, notes).set_index("artifact")
    assert not table.loc["DPO paper notes", "done"]  # the README does not count
    assert table.loc["500+ preference triples", "done"]
    (notes / "dpo_paper_notes.md").write_text("my notes")
    assert ev.checklist(tmp_path, notes).set_index("artifact").loc["DPO paper notes", "done"]
    assert isinstance(table, pd.DataFrame) and not table.loc["Reflection note", "done"]


def test_severity_breakdown_shows_hard_cases_and_a_collapse():
    from helpers.task import score_responses

    examples = [e for e in load_split("eval") if not e["hard_case"]][:3] + \
        [e for e in load_split("eval") if e["hard_case"]][:2]
    answers = [gold(e) for e in examples[:3]] + [gold(e, severity="SEV1" if e["severity"] != "SEV1" else "SEV2")
                                                 for e in examples[3:]]
    table = score_responses(answers, examples)
    table["response"] = answers
    frame = ev.severity_breakdown(table, examples)
    assert frame.loc["all", "severity_match"] == 0.6
    assert frame.loc["ordinary", "severity_match"] == 1.0 and frame.loc["hard cases", "severity_match"] == 0.0
    assert frame.loc["ordinary", "prompts"] == 3 and frame.loc["hard cases", "prompts"] == 2
    predicted = [frame.loc["all", f"predicted SEV{k}"] for k in range(1, 5)]
    assert sum(predicted) == pytest.approx(1.0) and frame.loc["hard cases", "predicted SEV1"] == ""
