import numpy as np
import pytest
import torch

from helpers import evaluation as ev
from helpers import severity_probs as sp
from helpers.judges import RubricJudge
from helpers.task import SEVERITIES, format_answer, format_prompt, load_split

EXAMPLES = load_split("eval")[:6]


def test_probabilities_are_the_models_next_token_odds_of_each_digit_batched_or_not(tiny):
    model, tok = tiny
    reports = [e["report"] for e in EXAMPLES[:3]]
    batched = sp.severity_probabilities(model, tok, reports, batch_size=3)  # left padding: reports of other lengths
    one_by_one = sp.severity_probabilities(model, tok, reports, batch_size=1)
    assert batched.shape == (3, 4) and np.allclose(batched.sum(1), 1.0)
    assert np.allclose(batched, one_by_one, atol=1e-4)
    ids = tok(format_prompt(tok, reports[0]) + '{"severity": "SEV', return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        logits = model(**ids).logits[0, -1]
    digits = [tok.convert_tokens_to_ids(d) for d in "1234"]
    expected = torch.softmax(logits[digits].float(), -1).numpy()
    assert np.allclose(batched[0], expected, atol=1e-5)
    assert sp.severity_probabilities(model, tok, []).shape == (0, 4)


def test_probabilities_are_cached_by_report_and_model(tiny, tmp_path, monkeypatch):
    model, tok = tiny
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    first = sp.cached_severity_probabilities("SFT+DPO", str(tmp_path / "m"), None, EXAMPLES[:3], tmp_path / "gen")
    calls = []
    monkeypatch.setattr(sp, "severity_probabilities", lambda m, t, reports, **k: calls.append(reports)
                        or np.full((len(reports), 4), 0.25))
    again = sp.cached_severity_probabilities("SFT+DPO", str(tmp_path / "m"), None, EXAMPLES[:3], tmp_path / "gen")
    assert np.array_equal(again, first) and calls == []  # no model run the second time
    edited = [EXAMPLES[0], {**EXAMPLES[1], "report": EXAMPLES[1]["report"] + " Update: resolved."}, EXAMPLES[2]]
    mixed = sp.cached_severity_probabilities("SFT+DPO", str(tmp_path / "m"), None, edited, tmp_path / "gen")
    assert calls == [[edited[1]["report"]]]  # only the changed report is computed again
    assert np.array_equal(mixed[[0, 2]], first[[0, 2]]) and np.allclose(mixed[1], 0.25)


def test_the_table_tests_the_probability_of_the_right_severity_paired():
    answers = {label: [format_answer("SEV4", e["component"], e["summary"]) for e in EXAMPLES]
               for label in ("Base", "SFT", "SFT+DPO")}  # the same answers: severity match cannot move
    scores = ev.per_prompt_scores(EXAMPLES, answers, RubricJudge(), progress=False)
    pair = ev.pairwise(EXAMPLES, answers["SFT"], answers["SFT+DPO"], RubricJudge(), progress=False)
    gold = np.array([[float(s == e["severity"]) for s in SEVERITIES] for e in EXAMPLES])
    probs = {"Base": np.full((6, 4), 0.25), "SFT": 0.3 * gold + 0.7 / 4, "SFT+DPO": 0.6 * gold + 0.4 / 4}
    assert sp.right_severity_probability(EXAMPLES, probs["SFT"]) == pytest.approx([0.475] * 6)
    table = ev.three_way_table(sp.add_to_scores(scores, EXAMPLES, probs), pair, n_boot=500)
    row = table.loc["P(right severity)"]
    assert row["Base"] == pytest.approx(0.25) and row["SFT"] == pytest.approx(0.475)
    assert row["Δ DPO over SFT"] == pytest.approx(0.7 - 0.475) and row["p (sign)"] == pytest.approx(2 / 2 ** 6)
    assert table.loc["Severity match", "Δ DPO over SFT"] == 0  # the top choice did not change
    assert "P(right severity)" not in ev.three_way_table(scores, pair, n_boot=100).index  # no column, no row
    with pytest.raises(ValueError, match="5 probability rows for 6 examples"):
        sp.right_severity_probability(EXAMPLES, probs["SFT"][:5])
