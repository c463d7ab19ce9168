"""Choosing a DPO recipe by measurement: short runs of several variants, each judged by held-out metrics, not by
the training reward gap alone.

Every variant is scored against the SFT model on two held-out groups: the in-template `eval` prompts and the
`dev_unseen` split (incident types, phrasings and names never trained on, and disjoint from `unseen`): format and
severity with intervals and a paired sign test, P(right severity) on dev, the last validation reward margin and
the KL to the reference. The `unseen` split is never read here: it is scored once, for the recipe chosen on dev.

`python -m helpers.training sweep --config helpers/configs/dpo_sweep.yaml` runs it from a Session B run folder;
`python -m helpers.training score --run runs/<id>` scores that run's own SFT and SFT+DPO the same way, without
training (a recipe tried as a whole Session B run, e.g. another SFT start).
"""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

from helpers import stats
from helpers.evaluation import adapter_scores
from helpers.models import DEFAULT_MODEL, load_tokenizer
from helpers.paths import load_metrics, repo_path
from helpers.preferences import read_preferences, to_dataset
from helpers.severity_probs import cached_severity_probabilities, right_severity_probability
from helpers.task import format_prompt, load_split
from helpers.training.dpo import DPORunConfig, train_dpo
from helpers.training.monitor import log_frame

DEV_SPLIT = "dev_unseen"
PAIRS_KEY = "preferences"  # a variant's own preferences file (another way of building pairs) instead of the base's


def _group_columns(prefix: str, sft, table, hard: list[bool]) -> dict:
    """Format, severity [95% CI], severity on hard cases and the paired change against SFT, for one group."""
    fmt = stats.bootstrap_ci(table["format_ok"])
    sev = stats.bootstrap_ci(table["severity_match"])
    diff = stats.paired_diffs(sft["severity_match"], table["severity_match"])
    hard_sev = table["severity_match"][hard].mean() if any(hard) else float("nan")
    return {f"{prefix}format": round(fmt[0], 3), f"{prefix}severity": f"{sev[0]:.3f} [{sev[1]:.3f}, {sev[2]:.3f}]",
            f"{prefix}severity (hard cases)": round(hard_sev, 3),
            f"{prefix}severity vs SFT": round(float(diff.mean()), 3),
            f"{prefix}p (sign test)": round(stats.sign_test(diff), 4)}


def _check_variants(variants: dict) -> None:
    known = {f.name for f in fields(DPORunConfig)} | {PAIRS_KEY}
    for label, overrides in variants.items():
        unknown = sorted(set(overrides or {}) - known)
        if unknown:
            raise ValueError(f"sweep variant {label!r}: unknown setting(s) {', '.join(unknown)}; a variant sets "
                             f"fields of DPORunConfig or {PAIRS_KEY!r} (a preferences file)")


def _refuse_unseen(examples: list[dict]) -> None:
    if any(e.get("id", "").startswith("unseen-") for e in examples):
        raise ValueError("the sweep chooses on eval and dev_unseen; the unseen split is scored once, not swept")


def score_adapters(model_name: str, adapters: dict[str, str | Path | None], eval_examples: list[dict],
                   out_dir: str | Path, dev_examples: list[dict] | None = None, max_new_tokens: int = 96,
                   batch_size: int = 32):
    """One row per adapter (label -> folder; None: the base model), each against the first one (the SFT model):
    format and severity with intervals and the paired sign test on `eval_examples` (no prefix) and on
    `dev_examples` ("dev " columns, with P(right severity)). A DataFrame indexed by label."""
    import pandas as pd

    groups = {"": eval_examples, **({"dev ": dev_examples} if dev_examples else {})}
    _refuse_unseen(eval_examples + (dev_examples or []))
    rows, first = [], None
    for label, adapter in adapters.items():
        scored = {prefix: adapter_scores(label, model_name, adapter, examples, max_new_tokens, batch_size)
                  for prefix, examples in groups.items()}
        first = first or scored
        out = {"variant": label}
        for prefix, examples in groups.items():
            out.update(_group_columns(prefix, first[prefix], scored[prefix],
                                      [bool(e.get("hard_case")) for e in examples]))
        if dev_examples:
            probs = cached_severity_probabilities(label, model_name, adapter, dev_examples, Path(out_dir) / "cache")
            prob = stats.bootstrap_ci(right_severity_probability(dev_examples, probs))
            out["dev P(right severity)"] = f"{prob[0]:.3f} [{prob[1]:.3f}, {prob[2]:.3f}]"
        rows.append(out)
    return pd.DataFrame(rows).set_index("variant")


def dpo_sweep(base: DPORunConfig, variants: dict[str, dict], train_dataset, eval_dataset, eval_examples: list[dict],
              kl_prompts: list[str], out_dir: str | Path, max_new_tokens: int = 96, batch_size: int = 32,
              dev_examples: list[dict] | None = None, train_datasets: dict | None = None):
    """One row per variant (DPORunConfig overrides on top of `base`), plus the SFT model as the first row, scored
    by `score_adapters` on `eval_examples` and `dev_examples`. `train_datasets[label]` replaces `train_dataset`
    for a variant built on other pairs. A DataFrame, also written to out_dir/sweep.csv."""
    import pandas as pd

    _check_variants(variants)
    out_dir = Path(out_dir)
    _refuse_unseen(eval_examples + (dev_examples or []))
    adapters, extras = {"SFT": base.sft_adapter}, {"SFT": {}}
    for label, overrides in variants.items():
        settings = {k: v for k, v in (overrides or {}).items() if k != PAIRS_KEY}
        config = DPORunConfig(**{**asdict(base), **settings, "checkpoint_dir": ""})
        train = (train_datasets or {}).get(label, train_dataset)
        summary = train_dpo(config, train, eval_dataset, kl_prompts=kl_prompts, out_dir=out_dir / label)
        frame = log_frame(summary["log_history"])

        def last(col, frame=frame):
            return round(float(frame[col].dropna().iloc[-1]), 3) if col in frame and frame[col].notna().any() else None

        adapters[label] = summary["adapter"]
        extras[label] = {"pairs": len(train), "steps": summary["global_steps"],
                         "val margin": last("eval_rewards/margins"), "val accuracy": last("eval_rewards/accuracies"),
                         "KL last": last("eval_kl")}
    scores = score_adapters(base.model_name, adapters, eval_examples, out_dir, dev_examples, max_new_tokens,
                            batch_size)
    frame = pd.concat([pd.DataFrame.from_dict(extras, orient="index"), scores], axis=1)
    frame.index.name = "variant"
    out_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_dir / "sweep.csv")
    return frame


def score_run(run_dir: str | Path, model_name: str = DEFAULT_MODEL, eval_prompts: int | None = None,
              dev_prompts: int | None = None, max_new_tokens: int = 96, batch_size: int = 32):
    """A Session B run's own SFT and SFT+DPO adapters (from its metrics), scored by `score_adapters` on the first
    `eval_prompts` in-template eval reports and `dev_prompts` dev_unseen ones (None: the whole split; 0 dev: none),
    without training again; also written to run_dir/dev_scores.csv."""
    run_dir = Path(run_dir)
    metrics = load_metrics(run_dir, "02_preferences_and_dpo")
    frame = score_adapters(model_name, {"SFT": metrics["sft_adapter"], "SFT+DPO": metrics["dpo_adapter"]},
                           load_split("eval")[:eval_prompts], run_dir / "dev_scoring",
                           load_split(DEV_SPLIT)[:dev_prompts] or None, max_new_tokens, batch_size)
    frame.to_csv(run_dir / "dev_scores.csv")
    return frame


def _train_split(path, config_path, spec: dict, seed: int):
    """The training and validation pairs of one preferences file, the first `train_pairs` training pairs if set."""
    records, _ = read_preferences(repo_path(path), config_path)  # missing or empty: one line naming it
    data = to_dataset(records, val_fraction=spec.get("val_fraction", 0.1), seed=seed)
    train = data["train"]
    if spec.get("train_pairs"):
        train = train.shuffle(seed=seed).select(range(min(int(spec["train_pairs"]), len(train))))
    return train, data["validation"]


def run_sweep_from_config(path: str | Path):
    """The sweep from a YAML file: `preferences` (Session B's preferences.jsonl), `dpo` (the base DPORunConfig),
    `variants` ({name: {field: value}}, where `preferences: FILE` trains that variant on other pairs),
    `train_pairs` (use the first n training pairs; 0 = all), `eval_prompts` (first n of the eval split; absent =
    all), `dev_prompts` (first n of dev_unseen; absent = all, 0 = none), `kl_prompts_from_eval`, `val_fraction`,
    `out_dir`."""
    import yaml

    spec = yaml.safe_load(Path(path).read_text())
    dpo = spec.get("dpo", {})  # the config's paths are relative to the repository root, wherever the command runs
    base = DPORunConfig(**{k: str(repo_path(v)) if k in ("sft_adapter", "checkpoint_dir") and v else v
                           for k, v in dpo.items()})
    train, validation = _train_split(spec["preferences"], path, spec, base.seed)
    variants = spec.get("variants") or {}  # none: the SFT model's row alone
    _check_variants(variants)
    own = {label: _train_split(v[PAIRS_KEY], path, spec, base.seed)[0]
           for label, v in variants.items() if v and v.get(PAIRS_KEY)}
    tok = load_tokenizer(base.model_name)
    evals = load_split("eval")
    kl_prompts = [format_prompt(tok, e["report"]) for e in evals[-int(spec.get("kl_prompts_from_eval", 8)):]]
    n_eval, n_dev = (None if spec.get(k) is None else int(spec[k]) for k in ("eval_prompts", "dev_prompts"))
    return dpo_sweep(base, variants, train, validation, evals[:n_eval],
                     kl_prompts, repo_path(spec["out_dir"]), dev_examples=load_split(DEV_SPLIT)[:n_dev] or None,
                     train_datasets=own)
