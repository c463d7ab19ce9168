"""`python -m helpers.training dpo --config helpers/configs/dpo.yaml`: the notebook's DPO run from a YAML file.

Everything the run reads is checked before any model is loaded: a missing or empty preferences file, a typo in a
setting or a value out of range is one line on stderr (exit status 2) naming the file, and the line or setting,
instead of a StopIteration from deep inside `datasets` minutes later.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from helpers import checks
from helpers.adapters import AdapterError, ModelNotFoundError, read_adapter
from helpers.models import DEFAULT_MODEL, load_tokenizer
from helpers.paths import repo_path
from helpers.preferences import PreferenceDataError, read_preferences, to_dataset, validate_preferences
from helpers.task import format_prompt, load_split
from helpers.training.dpo import DPORunConfig, folder_problem, train_dpo
from helpers.training.sweep import run_sweep_from_config, score_run

CONFIG_KEYS = ("preferences", "val_fraction", "out_dir", "kl_prompts_from_eval", "dpo")


class ConfigError(ValueError):
    """A run config that cannot start a run; the one-line message names the config file and the setting."""


@dataclass
class PreparedRun:
    """What `train_dpo` needs, read and checked: the config, the data and where the run writes."""

    config: DPORunConfig
    train: object
    val: object
    kl_prompts: list[str] | None
    out_dir: str | None


def load_config(path: str | Path) -> dict:
    """The YAML run config as a dict, checked: the file exists and parses, only known keys, `preferences` set."""
    import yaml

    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file (see helpers/configs/dpo.yaml for an example)")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 ({err.reason} at byte {err.start})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(err, 'problem', None) or type(err).__name__})") from None
    if spec is None:
        raise ConfigError(f"{path}: the config is empty; it needs at least `preferences` and `dpo.sft_adapter`")
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got a {type(spec).__name__}")
    unknown = sorted(str(k) for k in spec if k not in CONFIG_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(CONFIG_KEYS)}")
    prefs = spec.get("preferences")
    if not isinstance(prefs, str) or not prefs.strip():
        raise ConfigError(f"{path}: `preferences` must name a preferences JSONL file, got {prefs!r}")
    if not isinstance(spec.get("dpo", {}), dict):
        raise ConfigError(f"{path}: `dpo` must be a mapping of DPORunConfig fields, got {spec['dpo']!r}")
    return spec


def run_config(spec: dict, path: str | Path) -> DPORunConfig:
    """The `dpo:` block as a DPORunConfig; an unknown field, a value out of range (DPORunConfig's own rules) or an
    SFT adapter that is missing or broken (helpers.adapters.read_adapter) names the config file."""
    path = Path(path).expanduser().resolve()
    dpo = spec.get("dpo") or {}
    known = {f.name for f in fields(DPORunConfig)}
    unknown = sorted(str(k) for k in dpo if k not in known)
    if unknown:
        raise ConfigError(f"{path}: dpo: unknown field(s) {', '.join(unknown)} (see helpers.training.DPORunConfig)")
    # the config's paths are relative to the repository root, wherever the command runs
    dpo = {k: str(repo_path(v)) if k in ("sft_adapter", "checkpoint_dir") and isinstance(v, str) and v else v
           for k, v in dpo.items()}
    try:
        config = DPORunConfig(**dpo)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{path}: dpo: {err}") from None
    problem = folder_problem("checkpoint_dir", config.checkpoint_dir) if config.checkpoint_dir else None
    if problem:
        raise ConfigError(f"{path}: dpo.{problem}")
    if not config.sft_adapter:
        raise ConfigError(f"{path}: dpo.sft_adapter is empty: DPO starts from an SFT adapter (train one first)")
    try:
        read_adapter(config.sft_adapter)
    except (ModelNotFoundError, AdapterError) as err:
        raise ConfigError(f"{path}: dpo.sft_adapter: {err}") from None
    return config


def prepare_run(path: str | Path) -> PreparedRun:
    """Read and check everything a run needs (config, preferences, held-out prompts); no model is loaded yet,
    except the tokenizer for the KL prompts."""
    from datasets import Dataset

    spec = load_config(path)
    config = run_config(spec, path)
    val_fraction = spec.get("val_fraction", 0.1)
    n_kl = spec.get("kl_prompts_from_eval", config.kl_prompts)
    try:
        checks.fraction("val_fraction", val_fraction, low_open=False)
        checks.count("kl_prompts_from_eval", n_kl, minimum=0)
    except checks.ParameterError as err:
        raise ConfigError(f"{Path(path).expanduser().resolve()}: {err}") from None
    out_dir = spec.get("out_dir")
    if out_dir is not None and (not isinstance(out_dir, str) or repo_path(out_dir).is_file()):
        raise ConfigError(f"{Path(path).expanduser().resolve()}: out_dir must be a folder path, got {out_dir!r}")
    out_dir = str(repo_path(out_dir)) if out_dir else out_dir
    prefs_path = repo_path(spec["preferences"])
    records, lines = read_preferences(prefs_path, path)
    if isinstance(records[0], dict) and "status" in records[0]:  # a builder's log: keep the kept pairs
        try:
            data = to_dataset(records, val_fraction=val_fraction, seed=config.seed)
        except PreferenceDataError as err:
            raise PreferenceDataError(f"{prefs_path}: {err}") from None
        train, val = data["train"], data["validation"]
    else:
        validate_preferences(records, source=prefs_path, line_numbers=lines)
        train, val = Dataset.from_list(records), None
    kl_prompts = None
    if n_kl:
        tok = load_tokenizer(config.model_name)
        kl_prompts = [format_prompt(tok, e["report"]) for e in load_split("eval")[-n_kl:]]
    return PreparedRun(config, train, val, kl_prompts, out_dir)


def run_from_config(path: str | Path) -> dict:
    """Train DPO from a YAML file (the same run the notebook does). Keys: `dpo` (DPORunConfig fields),
    `preferences` (a preferences.jsonl written by Session B, or any JSONL of triples), `val_fraction`, `out_dir`,
    `kl_prompts_from_eval` (how many eval-split prompts to sample for the KL monitor)."""
    run = prepare_run(path)
    return train_dpo(run.config, run.train, run.val, kl_prompts=run.kl_prompts, out_dir=run.out_dir)


def main(argv=None) -> int:
    """`dpo --config FILE` trains (exit status 2 and one line on stderr for bad input); `sweep --config FILE` runs
    the sweep and prints its table; `score --run DIR` scores a Session B run's adapters on the dev split."""
    parser = argparse.ArgumentParser(description="Train DPO from a YAML config (also under `accelerate launch`).")
    sub = parser.add_subparsers(dest="command", required=True)
    dpo = sub.add_parser("dpo")
    dpo.add_argument("--config", required=True, help="YAML file, see helpers/configs/dpo.yaml")
    sweep = sub.add_parser("sweep", help="several DPO settings on the same pairs, judged on held-out prompts")
    sweep.add_argument("--config", required=True, help="YAML file, see helpers/configs/dpo_sweep.yaml")
    score = sub.add_parser("score", help="a Session B run's SFT and SFT+DPO on eval and dev_unseen, no training")
    score.add_argument("--run", required=True, help="the run folder, runs/<id>")
    score.add_argument("--model", default=DEFAULT_MODEL, help="the base model the run used (default %(default)s)")
    args = parser.parse_args(argv)
    if args.command in ("sweep", "score"):
        import pandas as pd

        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(run_sweep_from_config(args.config) if args.command == "sweep" else score_run(args.run, args.model))
        return 0
    try:
        run = prepare_run(args.config)  # bad input: one line, before any model is loaded
    except (ValueError, FileNotFoundError, ModelNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary = train_dpo(run.config, run.train, run.val, kl_prompts=run.kl_prompts, out_dir=run.out_dir)
    print(f"DPO adapter: {summary['adapter']} ({summary['global_steps']} steps, {summary['train_runtime']:.0f} s)")
    return 0
