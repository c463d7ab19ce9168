"""`python -m helpers.training dpo --config helpers/configs/dpo.yaml`: the notebook's DPO run from a YAML file."""

from __future__ import annotations

from pathlib import Path

from helpers.training.dpo import DPORunConfig, train_dpo


def run_from_config(path: str | Path) -> dict:
    """Train DPO from a YAML file (the same run the notebook does). Keys: `dpo` (DPORunConfig fields),
    `preferences` (a preferences.jsonl written by Session B, or any JSONL of triples), `val_fraction`, `out_dir`,
    `kl_prompts_from_eval` (how many eval-split prompts to sample for the KL monitor)."""
    import yaml
    from datasets import Dataset

    from helpers.preferences import read_records, to_dataset, validate_preferences
    from helpers.task import format_prompt, load_split

    spec = yaml.safe_load(Path(path).read_text())
    config = DPORunConfig(**spec.get("dpo", {}))
    records = read_records(spec["preferences"])
    if records and "status" in records[0]:
        data = to_dataset(records, val_fraction=spec.get("val_fraction", 0.1), seed=config.seed)
        train, val = data["train"], data["validation"]
    else:
        validate_preferences(records)
        train, val = Dataset.from_list(records), None
    n_kl = spec.get("kl_prompts_from_eval", config.kl_prompts)
    kl_prompts = None
    if n_kl:
        from helpers.models import load_tokenizer

        tok = load_tokenizer(config.model_name)
        kl_prompts = [format_prompt(tok, e["report"]) for e in load_split("eval")[-n_kl:]]
    return train_dpo(config, train, val, kl_prompts=kl_prompts, out_dir=spec.get("out_dir"))


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Train DPO from a YAML config (also under `accelerate launch`).")
    sub = parser.add_subparsers(dest="command", required=True)
    dpo = sub.add_parser("dpo")
    dpo.add_argument("--config", required=True, help="YAML file, see helpers/configs/dpo.yaml")
    sweep = sub.add_parser("sweep", help="several DPO settings on the same pairs, judged on held-out prompts")
    sweep.add_argument("--config", required=True, help="YAML file, see helpers/configs/dpo_sweep.yaml")
    args = parser.parse_args(argv)
    if args.command == "sweep":
        import pandas as pd

        from helpers.training.sweep import run_sweep_from_config

        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(run_sweep_from_config(args.config))
        return 0
    summary = run_from_config(args.config)
    print(f"DPO adapter: {summary['adapter']} ({summary['global_steps']} steps, {summary['train_runtime']:.0f} s)")
    return 0
