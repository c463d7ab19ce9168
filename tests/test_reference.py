"""The reference figures: written from a full run only, read back beside a learner's run, with how they differ."""

from __future__ import annotations

import json

import pytest

from helpers import reference
from helpers.paths import save_metrics

B_METRICS = {"pair_strategy": "severity_contrast", "n_triples": 500, "sft_check": {"severity_match": 0.5,
             "format_ok": 1.0}, "final": {"eval_rewards/accuracies": 0.9, "eval_rewards/margins": 1.2,
             "eval_kl": 2.5}, "margin_split": {"severity digit's share of |margin|": 0.8},
             "quality": {"severity_contrast": {"signal pairs (chosen right, rejected wrong)": 0.95},
                         "two_temperatures": {"signal pairs (chosen right, rejected wrong)": 0.6,
                                              "anti-signal pairs (chosen wrong, rejected right)": 0.1}}}


def _row(metric, sft, dpo, p=0.5):
    return {"Metric": metric, "SFT": sft, "SFT+DPO": dpo, "Δ DPO over SFT": dpo - sft, "p (permutation)": p}


def _run(folder, profile, severity_dpo=0.76):
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"profile": profile, "precision": {"name": "bf16"}}))
    save_metrics(folder, "02_preferences_and_dpo", B_METRICS)
    table = [_row("Severity match", 0.59, severity_dpo, 0.001), _row("P(right severity)", 0.5, 0.6),
             _row("Format-conformance", 1.0, 1.0)]
    save_metrics(folder, "03_three_way_eval", {"n_eval": 140, "n_unseen": 120, "table": table,
                                               "table_unseen": table})
    return folder


def test_the_reference_comes_from_a_full_run_and_sits_beside_the_learners(tmp_path, capsys):
    ref_file = tmp_path / "reference_run.json"
    full = _run(tmp_path / "full", "full")
    reference.write_reference(full, ref_file)
    written = json.loads(ref_file.read_text())
    assert written["profile"] == "full" and written["date"] and written["cpu"]
    assert written["figures"]["03_three_way_eval"]["in-template: Severity match, SFT+DPO"] == 0.76
    assert written["figures"]["02_preferences_and_dpo"]["course recipe: anti-signal share"] == 0.1

    mine = _run(tmp_path / "quick", "quick", severity_dpo=0.25)
    frame = reference.beside_reference(mine, "03_three_way_eval", ref_file)
    printed = capsys.readouterr().out
    assert "expect other numbers" in printed and "reference: the full profile on" in printed
    assert frame.loc["in-template: Severity match, SFT+DPO"].tolist() == ["0.760", "0.250"]
    assert frame.columns[0] == "reference"

    with pytest.raises(reference.ReferenceError, match="a 'quick' run"):
        reference.write_reference(mine, tmp_path / "other.json")


def test_a_caveat_about_the_reference_run_is_shown_beside_it(tmp_path, capsys):
    ref_file = tmp_path / "reference_run.json"
    reference.write_reference(_run(tmp_path / "full", "full"), ref_file, caveat="its SFT resumed from a checkpoint")
    reference.beside_reference(_run(tmp_path / "mine", "full"), "02_preferences_and_dpo", ref_file)
    printed = capsys.readouterr().out
    assert "about reference: its SFT resumed from a checkpoint" in printed
    assert "expect other numbers" not in printed  # same profile


def test_no_reference_file_is_one_line_and_this_runs_figures(tmp_path, capsys):
    mine = _run(tmp_path / "run", "quick")
    frame = reference.beside_reference(mine, "02_preferences_and_dpo", tmp_path / "missing.json")
    assert "missing" in capsys.readouterr().out
    assert list(frame.columns) == ["this run"]
    assert frame.loc["KL to the SFT model, nats (last)", "this run"] == "2.500"


def test_a_broken_reference_file_names_itself(tmp_path):
    bad = tmp_path / "reference_run.json"
    bad.write_text("{}")
    with pytest.raises(reference.ReferenceError, match="reference_run.json: not a reference file"):
        reference.load_reference(bad)


def test_two_references_sit_beside_the_learners_run_under_their_labels(tmp_path, capsys):
    defaults, plain = tmp_path / "reference_run.json", tmp_path / "reference_plain_start.json"
    reference.write_reference(_run(tmp_path / "a", "full"), defaults)
    reference.write_reference(_run(tmp_path / "b", "full", severity_dpo=0.70), plain, label="plain start")
    mine = _run(tmp_path / "mine", "full", severity_dpo=0.80)
    frame = reference.beside_reference(mine, "03_three_way_eval", [defaults, plain, tmp_path / "gone.json"])
    assert "no reference figures in gone.json (missing)" in capsys.readouterr().out
    assert list(frame.columns) == ["reference", "plain start", "this run"]
    assert frame.loc["in-template: Severity match, SFT+DPO"].tolist() == ["0.760", "0.700", "0.800"]


def test_session_b_figures_carry_the_reading_report_and_the_minutes(tmp_path):
    run = _run(tmp_path / "run", "full")
    save_metrics(run, "02_preferences_and_dpo", {**B_METRICS, "reading": {"hard cases' share of the signal pairs": 0.4},
                                                 "timings": {"sft_s": 60, "preferences_s": 90, "dpo_s": 600}})
    figures = reference.figures(run, "02_preferences_and_dpo")
    assert figures["hard cases' share of the signal pairs"] == 0.4
    assert figures["minutes: SFT / sampling / DPO"] == "1.0 / 1.5 / 10.0"
    frame = reference.beside_figures({"hard cases' share of the signal pairs": 0.3}, "02_preferences_and_dpo", run,
                                     [])
    assert frame.loc["hard cases' share of the signal pairs", "this run"] == "0.300"
