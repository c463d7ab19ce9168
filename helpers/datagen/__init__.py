"""Deterministic generator of the incident-triage data in `data/` (run: `python -m helpers.datagen`).

Reports are built from scenario templates with gold labels attached, so the labels are right by construction and
the files reproduce byte for byte from the seed. Every summary template uses only slot values that its report
contains, so a gold summary is faithful to its report. One job per module:

- `vocab`: service names, regions, numbers and cue phrasings (shared, and held out for unseen and for dev)
- `surfaces`: the surface forms (pager alert, ticket, chat, e-mail, status-page draft, postmortem, shift
  handover) and their openers
- `sev1` .. `sev4`: the report and summary templates of each severity's scenarios
- `scenarios`: the scenario table and the split group (shared, unseen, dev) of every scenario and template
- `splits`: which split may use what, and the generation itself
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from helpers import checks
from helpers.datagen.scenarios import BY_NAME, GROUPS, HELD_OUT_SCENARIOS, SCENARIOS, SHARED, TEMPLATES, scenario_table
from helpers.datagen.splits import SEED, SPLIT_EXTENSIONS, SPLIT_GROUP, SPLIT_SIZES, generate, make_example
from helpers.task import DATA_DIR, SEVERITIES, validate_example

__all__ = ["BY_NAME", "GROUPS", "HELD_OUT_SCENARIOS", "SCENARIOS", "SEED", "SHARED", "SPLIT_EXTENSIONS", "SPLIT_GROUP",
           "SPLIT_SIZES", "TEMPLATES", "describe", "generate", "main", "make_example", "scenario_table", "write"]


def write(out_dir: Path = DATA_DIR, seed: int = SEED) -> dict[str, Path]:
    """Write data/<split>.jsonl; returns the paths. Same seed, same bytes."""
    checks.integer("seed", seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, rows in generate(seed).items():
        for i, row in enumerate(rows):
            validate_example(row, f"{name}[{i}]")
        path = out_dir / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows),
                        encoding="utf-8")
        paths[name] = path
    return paths


def describe(splits: dict[str, list[dict]]) -> str:
    """Reports per split and severity, hard cases, scenarios and templates, one line per split."""
    lines = []
    for name, rows in splits.items():
        counts = Counter(r["severity"] for r in rows)
        hard = sum(r["hard_case"] for r in rows)
        held = sum(BY_NAME[r["scenario"]].group != SHARED for r in rows)
        lines.append(f"{name}: {len(rows)} reports, " + ", ".join(f"{s} {counts[s]}" for s in SEVERITIES)
                     + f", hard cases {hard}, scenarios {len({r['scenario'] for r in rows})}"
                     + f" ({held} reports from held-out ones), templates {len({r['template'] for r in rows})}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    paths = write(args.out, args.seed)
    print(describe(generate(args.seed)))
    print("wrote", ", ".join(str(p) for p in paths.values()))
