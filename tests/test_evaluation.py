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


def _done(run_dir, notes):
    table = ev.checklist(run_dir, notes).set_index("artifact")
    return {a: (bool(r["done"]), r["detail"]) for a, r in table.iterrows()}


def test_checklist(tmp_path):
    from helpers import notes as nt

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "README.md").write_text("x")
    (tmp_path / "preferences.jsonl").write_text("{}\n" * 510)
    table = ev.checklist(tmp_path, notes)
    assert isinstance(table, pd.DataFrame)
    done = _done(tmp_path, notes)
    assert not done["DPO paper notes"][0] and done["500+ preference triples"][0]  # the README does not count
    nt.write_scaffolds(notes)
    done = _done(tmp_path, notes)
    assert done["DPO paper notes"] == (False, "0 words of your own in dpo_paper_notes.md (500 needed; the course "
                                              "asks for ~600)")  # the scaffold alone is not notes
    assert done["InstructGPT notes"] == (False, "0 words of your own (only the scaffold so far)")
    own = " ".join(["word"] * 520)
    (notes / nt.DPO_NOTES).write_text((notes / nt.DPO_NOTES).read_text() + own)
    (notes / nt.INSTRUCTGPT_NOTES).write_text((notes / nt.INSTRUCTGPT_NOTES).read_text() + "reward model, then PPO")
    done = _done(tmp_path, notes)
    assert done["DPO paper notes"] == (True, "520 words of your own in dpo_paper_notes.md")
    assert done["InstructGPT notes"] == (True, "4 words of your own")


def test_the_reflection_counts_only_when_the_learner_wrote_it(tmp_path):
    notes = tmp_path / "notes"
    table = ev.three_way_table(*_scores_and_pair(), n_boot=200)
    draft = ev.reflection_scaffold(table, [], 12, "rubric")
    (tmp_path / "reflection_draft.md").write_text(draft)  # what Session C writes: the draft only
    assert not (tmp_path / "reflection.md").exists()
    done, detail = _done(tmp_path, notes)["Reflection note"]
    assert not done and detail.startswith("0 words: not written yet") and "reflection_draft.md" in detail
    (tmp_path / "reflection.md").write_text(draft)  # the draft copied over does not count
    done, detail = _done(tmp_path, notes)["Reflection note"]
    assert not done and "all of them the draft's" in detail
    (tmp_path / "reflection.md").write_text("DPO moved the severity. " * 40)  # 160 words: too short
    assert _done(tmp_path, notes)["Reflection note"] == (False, "160 words (250 needed; the course asks for ~300)")
    (tmp_path / "reflection.md").write_text("DPO moved the severity, not the facts. " * 43 + "The end.")  # 303 words
    assert _done(tmp_path, notes)["Reflection note"] == (True, "303 words")


def _scores_and_pair():
    answers = _answers()
    scores = ev.per_prompt_scores(EXAMPLES, answers, RubricJudge(), progress=False)
    return scores, ev.pairwise(EXAMPLES, answers["SFT"], answers["SFT+DPO"], RubricJudge(), progress=False)


def test_pairwise_rules_count_what_decided_each_verdict():
    answers = _answers()
    rules = ev.pairwise_rules(EXAMPLES, answers["SFT"], answers["SFT+DPO"])
    assert list(rules.index) == ["format", "severity", "component", "faithfulness", "concision", "tie"]
    n_fixed = sum(e["severity"] != "SEV4" for e in EXAMPLES[:4])  # DPO fixed these severities; the rest are equal
    assert rules.loc["severity", "verdicts"] == rules.loc["severity", "SFT+DPO won"] == n_fixed
    assert rules.loc["tie", "verdicts"] == 6 - n_fixed and rules["verdicts"].sum() == 6
    assert rules["share"].sum() == pytest.approx(1.0)
    pair = ev.pairwise(EXAMPLES, answers["SFT"], answers["SFT+DPO"], RubricJudge(), progress=False)
    assert (pair["score"] > 0.5).sum() == rules["SFT+DPO won"].sum()  # the same verdicts as the table's row
    assert ev.rule_lines(rules) == [f"the severity rule decided {n_fixed} of 6 verdicts (SFT+DPO won {n_fixed}, "
                                    "SFT won 0); on those the pairwise row repeats the severity row"]


def test_judge_lines_say_what_the_evaluation_judge_knows(tmp_path):
    assert ev.pairs_judge(tmp_path) is None
    (tmp_path / "run_card.json").write_text(json.dumps({"preference_data": {"judge": "rubric"}}))
    assert ev.pairs_judge(tmp_path) == "rubric"
    same = ev.judge_lines("rubric", ev.pairs_judge(tmp_path))
    assert "reads the gold labels" in same[0]
    assert same[1].startswith("warning: the evaluation judge (rubric) is the judge that built the preference pairs")
    assert all("\n" not in line for line in same)
    other = ev.judge_lines("claude:claude-opus-4-7", "rubric")
    assert len(other) == 1 and not other[0].startswith("warning") and "built by the rubric judge" in other[0]
    assert "not recorded" in ev.judge_lines("rubric", None)[-1]


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


def test_rule_lines_when_severity_decided_nothing():
    answers = _answers()
    same = ev.pairwise_rules(EXAMPLES, answers["SFT"], answers["SFT"])
    assert ev.rule_lines(same) == ["the severity rule decided none of the 6 verdicts: format, component, "
                                   "faithfulness, concision or a tie decided them all"]
