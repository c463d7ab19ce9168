import json
import re
from collections import Counter

import pytest
import torch

from helpers import training
from helpers.checks import ParameterError
from helpers.dpo_math import sequence_logps
from helpers.models import ModelNotFoundError, load_model
from helpers.preferences import PreferenceDataError


def _rows(n=6):
    return [{"prompt": [{"role": "user", "content": f"incident {i}: search-api is down in eu-west-1"}],
             "chosen": [{"role": "assistant", "content": '{"severity": "SEV2", "component": "search-api"}'}],
             "rejected": [{"role": "assistant", "content": "it is fine " * (i + 1)}]} for i in range(n)]


def _config(base, sft, tmp_path, **kw):
    defaults = dict(model_name=str(base), sft_adapter=str(sft), batch_size=2, grad_accum=1, max_steps=2,
                    eval_steps=1, save_steps=1, kl_prompts=2, kl_max_new_tokens=8,
                    checkpoint_dir=str(tmp_path / "ckpt"))
    return training.DPORunConfig(**{**defaults, **kw})


def test_reference_is_the_sft_model_not_the_base(tiny_sft, tmp_path, monkeypatch):
    from datasets import Dataset

    monkeypatch.setenv("WORKBOOK_PRECISION", "fp32")  # an exact comparison (bf16's own error: tests/test_precision.py)
    base, sft = tiny_sft
    trainer = training.make_dpo_trainer(_config(base, sft, tmp_path), Dataset.from_list(_rows(2)),
                                        output_dir=tmp_path / "out")
    batch = next(iter(trainer.get_train_dataloader()))
    ref_chosen, ref_rejected = trainer.compute_ref_log_probs(trainer.model, batch)
    sft_model, tok = load_model(str(base), adapter=sft)
    base_model, _ = load_model(str(base))
    rows = _rows(2)
    with torch.no_grad():
        sft_lp = torch.stack([sequence_logps(sft_model, tok, r["prompt"], r["chosen"]) for r in rows])
        base_lp = torch.stack([sequence_logps(base_model, tok, r["prompt"], r["chosen"]) for r in rows])
    # the dataloader may shuffle the pair, so compare as sets
    torch.testing.assert_close(ref_chosen.sort().values, sft_lp.sort().values, atol=1e-4, rtol=0)
    assert (ref_chosen.sort().values - base_lp.sort().values).abs().max() > 1e-2
    assert ref_rejected.shape == ref_chosen.shape


def test_kl_is_zero_at_the_start_and_grows_when_the_policy_moves(tiny_sft, tmp_path):
    from datasets import Dataset

    from helpers.task import format_prompt

    base, sft = tiny_sft
    trainer = training.make_dpo_trainer(_config(base, sft, tmp_path), Dataset.from_list(_rows(2)),
                                        output_dir=tmp_path / "out")
    tok = trainer.processing_class
    prompts = [format_prompt(tok, "checkout-api down"), format_prompt(tok, "staging search-api fails")]
    rng = torch.get_rng_state()
    assert abs(training.policy_ref_kl(trainer.model, tok, prompts, max_new_tokens=8)) < 1e-4
    assert torch.equal(torch.get_rng_state(), rng)  # it samples with its own seed and leaves the global RNG alone
    with torch.no_grad():
        for name, p in trainer.model.named_parameters():
            if ".default." in name and "lora_B" in name:
                p.add_(torch.randn_like(p) * 0.5)
    # a Monte-Carlo estimate: 2 prompts x 8 tokens can come out negative on the tiny model, 16 x 16 do not
    assert training.policy_ref_kl(trainer.model, tok, prompts * 8, max_new_tokens=16) > 0.01


def test_bad_preferences_stop_before_training(tiny_sft, tmp_path):
    from datasets import Dataset

    base, sft = tiny_sft
    rows = _rows(4)
    rows[2]["rejected"] = rows[2]["chosen"]
    with pytest.raises(PreferenceDataError, match="row 2: chosen and rejected are identical"):
        training.make_dpo_trainer(_config(base, sft, tmp_path), Dataset.from_list(rows), output_dir=tmp_path)


def test_missing_sft_adapter_is_a_clear_error(tiny_sft, tmp_path):
    from datasets import Dataset

    base, _ = tiny_sft
    with pytest.raises(ModelNotFoundError, match=f"no PEFT adapter at {tmp_path / 'nope'}"):
        training.make_dpo_trainer(_config(base, tmp_path / "nope", tmp_path), Dataset.from_list(_rows(2)))
    with pytest.raises(ModelNotFoundError, match=f"no PEFT adapter at {tmp_path / 'nope'}"):
        training.resolve_sft_adapter(str(tmp_path / "nope"), [])


def test_interrupted_training_resumes_from_its_last_checkpoint(tiny_sft, tmp_path, interrupt):
    from datasets import Dataset
    from peft import PeftModel

    base, sft = tiny_sft
    train, val = Dataset.from_list(_rows(8)), Dataset.from_list(_rows(2))
    config = _config(base, sft, tmp_path, max_steps=4, eval_steps=2)
    with pytest.raises(KeyboardInterrupt):
        training.train_dpo(config, train, val, out_dir=tmp_path / "run", callbacks=[interrupt(3)])
    assert training.last_checkpoint(tmp_path / "ckpt").endswith("checkpoint-2")
    summary = training.train_dpo(config, train, val, kl_prompts=["<|im_start|>user\nx<|im_end|>\n"],
                                 out_dir=tmp_path / "run")
    assert summary["resumed_from"].endswith("checkpoint-2") and summary["global_steps"] == 4
    model, _ = load_model(str(base), adapter=summary["adapter"], merge_adapter=False)
    assert isinstance(model, PeftModel) and list(model.peft_config) == ["default"]  # the "ref" copy is not saved
    frame = training.log_frame(summary["log_history"])
    assert {"loss", "rewards/margins", "eval_rewards/margins", "eval_kl"} <= set(frame.columns)

    json_path, md_path = training.write_run_card(tmp_path / "run", "v0.1", summary, {"triples_train": 8})
    card = json_path.read_text()
    for key in ("v0.1", "preference_data", "sha256_16", "trl", "final_metrics", "tokens_per_second"):
        assert key in card
    from helpers.models import precision_used

    assert json.loads(card)["training"]["precision"] == precision_used()
    assert f"- precision: {precision_used()['name']} on cpu" in md_path.read_text()
    assert "# DPO run card v0.1" in md_path.read_text()


def test_health_flags():
    import pandas as pd

    healthy = pd.DataFrame({"rewards/margins": [0, 0.1, 0.2, 0.3], "eval_rewards/margins": [0, 0.05, 0.1, 0.2],
                            "eval_kl": [0, 0.1, 0.2, 0.3]})
    assert training.training_health(healthy) == []
    memorising = healthy.assign(**{"eval_rewards/margins": [0.0, 0.0, -0.01, -0.02]})
    assert "validation gap" in training.training_health(memorising)[0]
    exploding = healthy.assign(eval_kl=[0, 0.2, 0.3, 9.0])
    flags = training.training_health(exploding, kl_warn_nats=5.0)
    assert any("reached 9.00 nats" in f for f in flags) and any("jumped" in f for f in flags)


def test_a_run_too_short_to_judge_a_kl_spike_says_so_instead_of_warning():
    """The quick profile (4 steps, KL at steps 0, 2 and 4) grew 0 -> 0.16 -> 0.89 nats: the growth every run starts
    with, not a spike. Its absolute limit still applies at any length."""
    import pandas as pd

    quick = pd.DataFrame({"eval_kl": [0.0, 0.157, 0.893]}, index=[0, 2, 4])
    assert training.training_health(quick) == []
    report = training.monitor.health_report(quick)
    assert report.startswith("no warning raised\n") and "healthy" not in report
    assert "note: KL was measured at 2 evaluation(s) after the start (steps 2, 4): too few" in report
    drifting = pd.DataFrame({"eval_kl": [0.0, 0.4, 7.5]}, index=[0, 2, 4])
    assert [f for f in training.training_health(drifting, kl_warn_nats=5.0) if "reached 7.50 nats" in f]
    assert training.monitor.health_report(drifting).startswith("WARNING: KL(pi_theta || pi_ref) reached 7.50")


def test_a_kl_explosion_on_a_longer_run_still_warns_and_steady_growth_does_not():
    import pandas as pd

    steps = range(0, 70, 10)
    steady = pd.DataFrame({"eval_kl": [3e-4 * s * s for s in steps]}, index=steps)  # quadratic: no spike
    assert training.training_health(steady) == []
    assert training.monitor.health_report(steady) == "curves look healthy: no warning raised"
    exploding = steady.assign(eval_kl=[0.0, 0.03, 0.12, 0.27, 0.48, 0.75, 3.9])
    flags = training.training_health(exploding, kl_warn_nats=5.0)
    assert flags == ["KL jumped to 3.90 nats at the last evaluation (step 60), over 3x its highest before (0.75): "
                     "a spike, often instability"]
    assert training.monitor.health_notes(exploding) == []


def test_a_dpo_run_shows_its_own_progress_not_the_libraries_bars(tiny_sft, tmp_path, capfd):
    """No "Loading weights" or datasets "Map"/"Tokenizing" bars; the KL sampling, which has no bar, gets a line."""
    from datasets import Dataset

    base, sft = tiny_sft
    training.train_dpo(_config(base, sft, tmp_path, max_steps=2, eval_steps=2), Dataset.from_list(_rows(4)),
                       Dataset.from_list(_rows(2)), kl_prompts=["<|im_start|>user\nx<|im_end|>\n"] * 2,
                       out_dir=tmp_path / "run")
    captured = capfd.readouterr()
    text = captured.out + captured.err
    for library_bar in ("Loading weights", "Map", "Tokenizing", "Truncating", "Dropping"):
        assert library_bar not in text
    assert "DPO data: 4 of 4 training pairs kept; 2 of 2 validation pairs kept (loaded and tokenised in " \
        in captured.out
    for step in (0, 2):
        assert re.search(rf"KL\(pi_theta \|\| pi_ref\) at step {step}: sampling 2 held-out prompts, 8 tokens each "
                         rf"\.\.\. -?\d+\.\d{{3}} nats, [\d.]+ s\n", captured.out)


def test_validation_gap_grows_from_zero_when_the_first_evaluation_is_late():
    """The full run evaluated first at step 10 (gap 0.217) and last at step 14 (0.231): the gap grew from 0 (the
    policy is the reference at step 0), it is not stuck. A late-only gap of 0 is still flagged."""
    import pandas as pd

    frame = pd.DataFrame({"rewards/margins": [0.0, 0.02, 0.1, 0.15, 0.17, 0.12, 0.29, 0.2, 0.32, 0.21],
                          "eval_rewards/margins": [None] * 7 + [0.217, None, 0.231]}, index=range(5, 15))
    assert training.training_health(frame) == []
    stuck = frame.assign(**{"eval_rewards/margins": [None] * 7 + [0.0, None, 0.001]})
    assert "validation gap" in training.training_health(stuck)[0]


def _cli_config(tiny_sft, tmp_path, name: str, n_rows: int, **dpo):
    """A YAML run config for `python -m helpers.training dpo` on the tiny model; the run writes to tmp_path/name."""
    import json

    import yaml

    base, sft = tiny_sft
    prefs_path = tmp_path / "prefs.jsonl"
    prefs_path.write_text("".join(json.dumps(r) + "\n" for r in _rows(n_rows)))
    spec = {"preferences": str(prefs_path), "out_dir": str(tmp_path / name), "kl_prompts_from_eval": 0,
            "dpo": {"model_name": str(base), "sft_adapter": str(sft), "grad_accum": 1,
                    "checkpoint_dir": str(tmp_path / f"{name}-ckpt"), **dpo}}
    config_path = tmp_path / "dpo.yaml"
    config_path.write_text(yaml.safe_dump(spec))
    return config_path


def test_script_entry_point_trains_from_a_yaml_config(tiny_sft, tmp_path):
    import yaml

    config_path = _cli_config(tiny_sft, tmp_path, "cli", 4, max_steps=1)
    assert training.main(["dpo", "--config", str(config_path)]) == 0
    assert (tmp_path / "cli" / "dpo_adapter" / "adapter_config.json").exists()
    shipped = yaml.safe_load((training.REPO_ROOT / "helpers" / "configs" / "dpo.yaml").read_text())
    assert set(shipped["dpo"]) <= set(training.DPORunConfig.__dataclass_fields__)


def test_beta_demo_reports_margin_and_kl(tiny_sft, tmp_path):
    from datasets import Dataset

    base, sft = tiny_sft
    config = _config(base, sft, tmp_path, grad_accum=1, learning_rate=5e-2)
    table = training.beta_demo(config, Dataset.from_list(_rows(4)), [0.05, 5.0], steps=2,
                               kl_prompts=["<|im_start|>user\nx<|im_end|>\n"], out_dir=tmp_path / "beta")
    assert list(table["beta"]) == [0.05, 5.0]
    assert (table["KL(pi_theta || pi_ref)"] > 0).all()
    assert set(table.columns) >= {"train reward margin", "train loss"}


def test_compact_lm_head_scores_only_completions_with_the_same_loss_and_gradients(tiny_sft, tmp_path, monkeypatch):
    """The CPU speed-up (LM head on completion tokens only) must not change what DPO computes. In fp32: under bf16
    the two paths' matmuls have other shapes, so a CPU's kernels may round them differently."""
    import trl.trainer.utils as trl_utils
    from datasets import Dataset

    monkeypatch.setenv("WORKBOOK_PRECISION", "fp32")
    base, sft = tiny_sft
    # TRL's own (unshared) batches, whose scored rows the count below expects; the packed ones: test_prefix_sharing
    trainer = training.make_dpo_trainer(_config(base, sft, tmp_path, precompute_ref=False, share_prefix=False),
                                        Dataset.from_list(_rows(2)), output_dir=tmp_path / "out")
    batch = next(iter(trainer.get_train_dataloader()))
    rows_scored = []
    apply = trl_utils._ChunkedLogProbFunction.apply
    monkeypatch.setattr(trl_utils._ChunkedLogProbFunction, "apply",
                        lambda hidden, *a: rows_scored.append(hidden.shape[0]) or apply(hidden, *a))

    def loss_and_grads(compact):
        training.compact_lm_head(compact)
        trainer.model.zero_grad()
        loss = trainer.compute_loss(trainer.model, batch)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in trainer.model.parameters() if p.requires_grad]

    try:
        loss_full, grads_full = loss_and_grads(False)
        loss_compact, grads_compact = loss_and_grads(True)
    finally:
        training.compact_lm_head(True)
    torch.testing.assert_close(loss_compact, loss_full, atol=1e-5, rtol=1e-5)
    for g_c, g_f in zip(grads_compact, grads_full, strict=True):
        torch.testing.assert_close(g_c, g_f, atol=1e-5, rtol=1e-4)
    n_completion = int(batch["completion_mask"][:, 1:].sum())
    positions = batch["input_ids"][:, 1:].numel()
    # policy + reference pass each: every position without compaction, only the completion tokens with it
    assert rows_scored == [positions, positions, n_completion, n_completion]
    assert n_completion < positions / 2


def test_the_same_entry_point_trains_on_two_processes_under_accelerate_launch(tiny_sft, tmp_path):
    """The scale-out path, run for real: the shipped 2-process config starts two DDP ranks (gloo, CPU)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    config_path = _cli_config(tiny_sft, tmp_path, "ddp", 8, max_steps=2, batch_size=2)
    accelerate = Path(sys.executable).with_name("accelerate")
    cpu2 = training.REPO_ROOT / "helpers" / "configs" / "accelerate_cpu2.yaml"
    launch = [str(accelerate), "launch", "--config_file", str(cpu2),
              "-m", "helpers.training", "dpo", "--config", str(config_path)]
    done = subprocess.run(launch, cwd=training.REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-20000:]
    assert done.stdout.count("DPO adapter:") == 2  # one line per rank
    summary = json.loads((tmp_path / "ddp" / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["global_steps"] == 2
    assert (tmp_path / "ddp" / "dpo_adapter" / "adapter_config.json").exists()


def test_precomputed_reference_gives_the_same_training_and_evaluation(tiny_sft, tmp_path, monkeypatch):
    """The default (reference log-probs computed once, before training) changes the cost, not the numbers. In
    fp32, so that the comparison is exact on every CPU (bf16's own error: tests/test_precision.py)."""
    from datasets import Dataset

    monkeypatch.setenv("WORKBOOK_PRECISION", "fp32")
    base, sft = tiny_sft
    train, val = Dataset.from_list(_rows(4)), Dataset.from_list(_rows(6)[4:])
    results = {}
    for precompute in (True, False):
        config = _config(base, sft, tmp_path / str(precompute), precompute_ref=precompute, kl_prompts=0)
        summary = training.train_dpo(config, train, val, out_dir=tmp_path / f"run-{precompute}")
        frame = training.log_frame(summary["log_history"])
        results[precompute] = (frame["loss"].dropna().to_numpy(), summary["final_eval"])
    (loss_pre, eval_pre), (loss_online, eval_online) = results[True], results[False]
    assert len(loss_pre) == 2
    torch.testing.assert_close(torch.tensor(loss_pre), torch.tensor(loss_online), atol=1e-5, rtol=1e-5)
    for key in ("eval_loss", "eval_rewards/margins", "eval_rewards/chosen"):
        assert abs(eval_pre[key] - eval_online[key]) < 1e-5, key


def test_severity_weight_adds_exactly_the_weighted_digit_loss(tmp_path):
    """The bootstrap SFT's weighted loss = TRL's token-averaged loss + (w - 1) x the severity digits' NLL / tokens:
    only the severity token is up-weighted, and it is found in every answer."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from helpers.models import tiny_model
    from helpers.task import load_split
    from helpers.training.sft import severity_positions, severity_weighted_trainer

    training.compact_lm_head(True)
    model, tok = tiny_model(seed=1)
    tok.padding_side = "right"
    data = Dataset.from_list(training.sft_records(load_split("sft")[:3]))
    args = SFTConfig(output_dir=str(tmp_path), max_length=384, report_to="none", use_cpu=True, bf16=False,
                     gradient_checkpointing=False, per_device_train_batch_size=3)
    plain = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok)
    weighted = severity_weighted_trainer(tok, 5.0)(model=model, args=args, train_dataset=data, processing_class=tok)
    batch = next(iter(plain.get_train_dataloader()))
    digits = severity_positions(batch["labels"], tok)
    assert digits.sum(1).tolist() == [1, 1, 1]
    assert sorted(tok.convert_ids_to_tokens(batch["labels"][digits].tolist())) == sorted(
        e["severity"][-1] for e in load_split("sft")[:3])
    with torch.no_grad():
        base = plain.compute_loss(model, dict(batch))
        heavy = weighted.compute_loss(model, dict(batch))
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logps = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, batch["labels"][:, 1:].clamp(min=0)[..., None])
    digit_nll = -logps[..., 0][digits[:, 1:]].sum()
    n_tokens = (batch["labels"][:, 1:] != -100).sum()
    torch.testing.assert_close(heavy - base, 4.0 * digit_nll / n_tokens, atol=1e-4, rtol=1e-4)


def test_sft_selection_ordinary_leaves_the_hard_cases_out_and_names_bad_values():
    from helpers.task import load_split

    sft = load_split("sft")
    ordinary = training.select_sft_examples(sft, 50, "ordinary")
    assert len(ordinary) == 50 and not any(e["hard_case"] for e in ordinary)
    counts = Counter(e["severity"] for e in ordinary)
    assert len(counts) == 4 and max(counts.values()) - min(counts.values()) <= 1, counts  # balanced
    four = Counter(e["severity"] for e in training.select_sft_examples(sft, 248, "ordinary"))
    assert set(four.values()) == {62}, four  # all 62 ordinary SEV4 reports, and as many of each other severity
    everything = training.select_sft_examples(sft, 500, "all")
    assert sorted(e["id"] for e in everything) == sorted(e["id"] for e in sft)  # n = all: every example once
    with pytest.raises(ParameterError, match="sft_selection must be one of 'ordinary', 'all', got 'hard'"):
        training.select_sft_examples(sft, 10, "hard")
    with pytest.raises(ParameterError, match="sft_examples must be an integer >= 1, got 0"):
        training.select_sft_examples(sft, 0)
    n_ordinary = sum(not e["hard_case"] for e in sft)
    with pytest.raises(ParameterError, match=f"sft_examples must be an integer >= 1 and <= {n_ordinary}, got 10000"):
        training.select_sft_examples(sft, 10_000, "ordinary")
    with pytest.raises(ParameterError, match=f"sft_examples must be an integer >= 1 and <= {len(sft)}, got 10000"):
        training.select_sft_examples(sft, 10_000)  # the default, "all", may take every example


def test_the_default_sft_start_sees_hard_cases_in_balanced_severities():
    from helpers.task import load_split

    chosen = training.select_sft_examples(load_split("sft"), 248)
    counts = Counter(e["severity"] for e in chosen)
    assert set(counts.values()) == {62}, counts
    assert 0 < sum(e["hard_case"] for e in chosen) < 248  # hard cases and ordinary reports alike


def test_adapter_digest_follows_the_weights_not_the_path(tiny_sft, tmp_path):
    import shutil

    from helpers.cache import adapter_digest

    _, sft = tiny_sft
    copy = tmp_path / "copy"
    shutil.copytree(sft, copy)
    assert adapter_digest(copy) == adapter_digest(sft)
    weights = copy / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert adapter_digest(copy) != adapter_digest(sft)


def test_sweep_judges_each_variant_on_held_out_prompts_against_sft(tiny_sft, tmp_path):
    from datasets import Dataset

    from helpers.task import load_split
    from helpers.training.sweep import dpo_sweep

    base, sft = tiny_sft
    config = _config(base, sft, tmp_path, max_steps=1, grad_accum=1, eval_steps=1)
    table = dpo_sweep(config, {"lr 1e-2": {"learning_rate": 1e-2}, "plain": {"nll_weight": 0.0}},
                      Dataset.from_list(_rows(4)), Dataset.from_list(_rows(2)), load_split("eval")[:3],
                      ["<|im_start|>user\nx<|im_end|>\n"], tmp_path / "sweep", max_new_tokens=8, batch_size=3,
                      dev_examples=load_split("dev_unseen")[:3], train_datasets={"plain": Dataset.from_list(_rows(2))})
    assert list(table.index) == ["SFT", "lr 1e-2", "plain"]
    for prefix in ("", "dev "):  # in-template eval and the dev split, each against SFT
        assert table.loc["SFT", prefix + "severity vs SFT"] == 0 and table.loc["SFT", prefix + "p (sign test)"] == 1
    assert table["dev P(right severity)"].notna().all()
    assert table.loc["plain", "steps"] == 1 and table.loc["lr 1e-2", "KL last"] is not None
    assert table.loc["plain", "pairs"] == 2 and table.loc["lr 1e-2", "pairs"] == 4  # a variant's own pairs
    assert (tmp_path / "sweep" / "sweep.csv").exists()
    assert (tmp_path / "sweep" / "plain" / "dpo_adapter" / "adapter_config.json").exists()


def test_a_session_b_runs_own_adapters_are_scored_on_dev_without_training(tiny_sft, tmp_path):
    from helpers.training.cli import main
    from helpers.training.sweep import score_run

    base, sft = tiny_sft
    (tmp_path / "02_preferences_and_dpo.metrics.json").write_text(json.dumps(
        {"sft_adapter": str(sft), "dpo_adapter": str(sft)}))  # DPO = SFT here: every change against SFT is 0
    table = score_run(tmp_path, str(base), eval_prompts=3, dev_prompts=3, max_new_tokens=8, batch_size=3)
    assert list(table.index) == ["SFT", "SFT+DPO"]
    assert (table["severity vs SFT"] == 0).all() and (table["dev severity vs SFT"] == 0).all()
    assert table.loc["SFT", "dev P(right severity)"] == table.loc["SFT+DPO", "dev P(right severity)"]
    assert (tmp_path / "dev_scores.csv").exists()
    (tmp_path / "02_preferences_and_dpo.metrics.json").unlink()
    with pytest.raises(FileNotFoundError, match="02_preferences_and_dpo.ipynb"):
        main(["score", "--run", str(tmp_path), "--model", str(base)])


def test_sweep_never_reads_the_unseen_split_and_names_unknown_settings(tiny_sft, tmp_path):
    from helpers.task import load_split
    from helpers.training.sweep import dpo_sweep

    base, sft = tiny_sft
    config = _config(base, sft, tmp_path, max_steps=1)
    with pytest.raises(ValueError, match="unseen split is scored once"):
        dpo_sweep(config, {}, None, None, load_split("eval")[:2], [], tmp_path, dev_examples=load_split("unseen")[:2])
    with pytest.raises(ValueError, match="variant 'x': unknown setting\\(s\\) betta"):
        dpo_sweep(config, {"x": {"betta": 0.2}}, None, None, load_split("eval")[:2], [], tmp_path)


def test_nll_term_is_trls_rpo_loss():
    config = training.DPORunConfig(nll_weight=0.5)
    args = training.dpo_args(config, "/tmp/unused", has_eval=False)
    assert args.loss_type == ["sigmoid", "sft"] and args.loss_weights == [1.0, 0.5]
    plain = training.dpo_args(training.DPORunConfig(), "/tmp/unused", has_eval=False)
    assert plain.loss_type == ["sigmoid"]


@pytest.mark.parametrize("field, value", [("beta", 0.0), ("learning_rate", -1e-4), ("nll_weight", -1.0),
                                          ("batch_size", 0), ("max_steps", 0), ("beta", "high")])
def test_bad_dpo_settings_name_themselves(field, value):
    with pytest.raises(ParameterError, match=rf"^{field} must be .*, got {re.escape(repr(value))}$"):
        training.DPORunConfig(**{field: value})


def test_every_bad_dpo_setting_is_named_at_once():
    with pytest.raises(ParameterError, match="^beta must .*; grad_accum must .*, got 0$"):
        training.DPORunConfig(beta=-1, grad_accum=0)


def test_the_margin_splits_into_the_severity_digit_and_the_rest_and_adds_up(tiny_sft, tmp_path, monkeypatch):
    from datasets import Dataset

    from helpers.training.credit import margin_by_part, margin_summary

    monkeypatch.setenv("WORKBOOK_PRECISION", "fp32")
    base, sft = tiny_sft
    answer = '{"severity": "SEV2", "component": "search-api", "summary": "search-api is down."}'
    rows = [{"prompt": [{"role": "user", "content": "search-api is down in eu-west-1"}],
             "chosen": [{"role": "assistant", "content": answer}],
             "rejected": [{"role": "assistant", "content": answer.replace("SEV2", rejected)}]}
            for rejected in ("SEV4", "SEV2")]
    rows.append({**rows[0], "rejected": [{"role": "assistant", "content": "it is fine"}]})
    trainer = training.make_dpo_trainer(_config(base, sft, tmp_path), Dataset.from_list(_rows(2)),
                                        output_dir=tmp_path / "out")
    model, tok = trainer.model, trainer.processing_class
    at_start = margin_by_part(model, tok, rows, beta=0.1)
    assert at_start.abs().max().max() < 1e-4  # the policy is the reference: no margin anywhere
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".default." in name and "lora_B" in name:
                p.add_(torch.randn_like(p) * 0.5)
    frame = margin_by_part(model, tok, rows, beta=0.1)
    with torch.no_grad():
        def ratio(row, side):
            policy = sequence_logps(model, tok, row["prompt"], row[side])
            with training.ref_adapter(model):
                return float(policy - sequence_logps(model, tok, row["prompt"], row[side]))
        direct = [0.1 * (ratio(r, "chosen") - ratio(r, "rejected")) for r in rows]
    # the two parts add up to the margin computed from the whole sequences, as the DPO loss sees it
    assert frame["margin"].tolist() == pytest.approx(direct, abs=1e-4)
    assert (frame["severity digit"] + frame["rest of the answer"]).tolist() == pytest.approx(direct, abs=1e-4)
    assert abs(frame.loc[0, "severity digit"]) > 1e-3  # SEV2 vs SEV4: the digit's log-ratio differs
    assert frame.loc[1].abs().max() < 1e-5  # the same answer on both sides: nothing, digit or rest
    assert abs(frame.loc[2, "severity digit"]) > 1e-3  # no digit in the rejected answer: the chosen's alone
    summary = margin_summary(frame)
    assert summary["pairs"] == 3 and 0 < summary["severity digit's share of |margin|"] < 1


def test_watching_kl_does_not_change_what_dpo_trains(tiny_sft, tmp_path, monkeypatch):
    """How often a learner evaluates (eval loss, reward accuracy, KL) must not change the trained model: the KL
    monitor samples in a forked RNG, the second epoch's order comes from the seed, TRL turns dropout off. (With
    dropout on, TRL's own evaluation draws from the global RNG and the trained weights do differ.)"""
    from datasets import Dataset
    from safetensors.torch import load_file

    from helpers.task import format_prompt

    monkeypatch.setenv("WORKBOOK_PRECISION", "fp32")  # an exact comparison
    base, sft = tiny_sft
    train, val = Dataset.from_list(_rows(4)), Dataset.from_list(_rows(2))  # 2 steps an epoch: epoch 2 reshuffles
    tok = load_model(str(base))[1]
    prompts = [format_prompt(tok, "checkout-api down"), format_prompt(tok, "staging search-api fails")]
    weights = []
    for eval_steps in (1, 100):  # KL measured after every step, or only before training
        config = _config(base, sft, tmp_path, max_steps=4, eval_steps=eval_steps, learning_rate=1e-2,
                         checkpoint_dir=str(tmp_path / f"ckpt{eval_steps}"))
        training.train_dpo(config, train, val, kl_prompts=prompts, out_dir=tmp_path / f"run{eval_steps}")
        weights.append(load_file(tmp_path / f"run{eval_steps}/dpo_adapter/adapter_model.safetensors"))
    assert weights[0].keys() == weights[1].keys()
    sft_weights = load_file(sft / "adapter_model.safetensors")
    assert any(not torch.equal(weights[0][k], sft_weights[k]) for k in weights[0])  # training moved the adapter
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_sft_gradient_checkpointing_gives_the_same_weights_and_the_same_cache_key(tiny_sft, tmp_path, monkeypatch):
    """Checkpointing only recomputes activations (with the same dropout draws): off by default for speed, the
    weights are those it trains with it on, so the bootstrap's cache key leaves it out."""
    from safetensors.torch import load_file

    from helpers.task import load_split
    from helpers.training import sft

    base, _ = tiny_sft
    examples = load_split("sft")[:4]
    weights = {}
    for on in (True, False):
        adapter = training.train_sft(examples, tmp_path / str(on), model_name=str(base), batch_size=2, grad_accum=1,
                                     severity_weight=50.0, gradient_checkpointing=on, save_steps=100)
        weights[on] = load_file(adapter / "adapter_model.safetensors")
    assert weights[True].keys() == weights[False].keys()
    for name, value in weights[True].items():
        assert torch.equal(value, weights[False][name]), name
    assert any(v.abs().sum() > 0 for k, v in weights[False].items() if "lora_B" in k)  # it trained

    keys = []
    monkeypatch.setattr(sft, "train_sft", lambda *a, **kw: (_ for _ in ()).throw(RuntimeError("stop")))
    monkeypatch.setattr(sft, "config_hash", lambda config: keys.append(config) or "k")
    for on in (True, False):
        with pytest.raises(RuntimeError):
            sft.bootstrap_sft(examples, model_name=str(base), cache_root=tmp_path / "cache", gradient_checkpointing=on)
    assert keys[0] == keys[1] and "gradient_checkpointing" not in keys[0]
