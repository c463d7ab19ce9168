"""A reference run's key figures, shown beside the learner's own, so a learner sees at once whether their run
behaves as expected (and the notebooks' prose never has to state one machine's numbers as facts).

The figures come from data/reference_run.json (the workbook's defaults) and data/reference_plain_start.json (the
same week with the hard cases left out of the bootstrap SFT, the default before), each written
by this module from a finished full-profile run with the CPU and the date:

    python -m helpers.reference runs/<run-id>        # or: make reference RUN=runs/<run-id>
    python -m helpers.reference runs/<run-id> --out data/reference_plain_start.json --label "plain start ..."
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from helpers.paths import REPO_ROOT, load_metrics
from helpers.precision import cpu_flags

REFERENCE_FILE = REPO_ROOT / "data" / "reference_run.json"
PLAIN_START_FILE = REPO_ROOT / "data" / "reference_plain_start.json"
REFERENCE_FILES = (REFERENCE_FILE, PLAIN_START_FILE)
SESSION_B, SESSION_C = "02_preferences_and_dpo", "03_three_way_eval"


class ReferenceError(ValueError):
    pass


def _row(table: list[dict], metric: str) -> dict:
    return next((r for r in table if r.get("Metric") == metric), {})


def _session_b(m: dict) -> dict:
    strategy = m.get("pair_strategy", "")
    quality = m.get("quality", {})
    final = m.get("final", {})
    signal, anti = "signal pairs (chosen right, rejected wrong)", "anti-signal pairs (chosen wrong, rejected right)"
    return {
        "SFT check: severity match": m.get("sft_check", {}).get("severity_match"),
        "SFT check: format": m.get("sft_check", {}).get("format_ok"),
        "preference triples DPO used": m.get("n_triples"),
        "signal share of the pairs DPO used": quality.get(strategy, {}).get(signal),
        "course recipe: signal share": quality.get("two_temperatures", {}).get(signal),
        "course recipe: anti-signal share": quality.get("two_temperatures", {}).get(anti),
        "validation reward accuracy (last)": final.get("eval_rewards/accuracies"),
        "validation reward margin (last)": final.get("eval_rewards/margins"),
        "KL to the SFT model, nats (last)": final.get("eval_kl"),
        "severity digit's share of the margin": m.get("margin_split", {}).get("severity digit's share of |margin|"),
        "minutes: SFT / sampling / DPO": _minutes(m.get("timings", {}), ("sft_s", "preferences_s", "dpo_s")),
        **m.get("reading", {}),
    }


def _minutes(timings: dict, keys: tuple[str, ...]) -> str | None:
    if not all(k in timings for k in keys):
        return None
    return " / ".join(f"{timings[k] / 60:.1f}" for k in keys)


def _session_c(m: dict) -> dict:
    out = {}
    for group, key in (("in-template", "table"), ("unseen", "table_unseen")):
        for metric in ("Severity match", "P(right severity)"):
            row = _row(m.get(key, []), metric)
            out[f"{group}: {metric}, SFT"] = row.get("SFT")
            out[f"{group}: {metric}, SFT+DPO"] = row.get("SFT+DPO")
            out[f"{group}: {metric}, Δ"] = row.get("Δ DPO over SFT")
        out[f"{group}: severity Δ, p"] = _row(m.get(key, []), "Severity match").get("p (permutation)")
        out[f"{group}: format, SFT+DPO"] = _row(m.get(key, []), "Format-conformance").get("SFT+DPO")
    out["reports: in-template / unseen"] = f"{m.get('n_eval')} / {m.get('n_unseen')}"
    return out


EXTRACT = {SESSION_B: _session_b, SESSION_C: _session_c}


def figures(run_dir: str | Path, notebook: str) -> dict:
    """The key figures one session saved in `run_dir` (its metrics file), by name; None where it saved none."""
    if notebook not in EXTRACT:
        raise ReferenceError(f"no reference figures for {notebook!r}: one of {', '.join(EXTRACT)}")
    return EXTRACT[notebook](load_metrics(run_dir, notebook))


def _run_profile(run_dir: Path) -> str:
    record = Path(run_dir) / "run.json"
    return json.loads(record.read_text()).get("profile", "?") if record.exists() else "interactive"


def write_reference(run_dir: str | Path, path: str | Path = REFERENCE_FILE, allow_profile: str = "full",
                    caveat: str = "", label: str = "reference") -> Path:
    """Write the reference file from a finished run of the `allow_profile` profile, with the CPU and the date, the
    `label` that heads its column, and a `caveat` a learner should read beside its figures (how the run differs
    from a plain one), if any."""
    run_dir = Path(run_dir)
    profile = _run_profile(run_dir)
    if profile != allow_profile:
        raise ReferenceError(f"{run_dir}: a {profile!r} run; the reference comes from a {allow_profile!r} run")
    cpu, flags = cpu_flags()
    bf16 = sorted(f for f in flags if f in ("amx_bf16", "avx512_bf16"))
    record = json.loads((run_dir / "run.json").read_text())
    reference = {"run_id": run_dir.name, "label": label, "profile": profile, "date": date.today().isoformat(),
                 "cpu": f"{cpu} ({', '.join(bf16) or 'no native bf16'})",
                 "precision": record.get("precision", {}).get("name", "?"),
                 "figures": {nb: figures(run_dir, nb) for nb in EXTRACT}}
    if caveat:
        reference["caveat"] = caveat
    path = Path(path)
    path.write_text(json.dumps(reference, indent=2, ensure_ascii=False, default=float) + "\n")
    return path


def load_reference(path: str | Path = REFERENCE_FILE) -> dict | None:
    path = Path(path)
    if not path.exists():
        return None
    try:
        reference = json.loads(path.read_text())
        reference["figures"]
    except (ValueError, KeyError) as err:
        raise ReferenceError(f"{path}: not a reference file ({err})") from err
    return reference


def _shown(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        shown = f"{value:.3f}"
        return "0.000" if shown == "-0.000" else shown
    return str(value)


def _paths(paths) -> tuple[Path, ...]:
    return (Path(paths),) if isinstance(paths, (str, Path)) else tuple(Path(p) for p in paths)


def beside_figures(mine: dict, notebook: str, run_dir: str | Path, paths=REFERENCE_FILES):
    """Figures of this run (`mine`, by name) beside the same figures of each reference run that has a file, one
    column each; a line for each missing file, each reference's caveat, and a line when this run's profile (from
    `run_dir`) differs from a reference's (expect other numbers)."""
    import pandas as pd

    profile = _run_profile(Path(run_dir))
    columns = {}
    for path in _paths(paths):
        reference = load_reference(path)
        if reference is None:
            print(f"no reference figures in {path.name} (missing)")
            continue
        theirs = reference["figures"].get(notebook, {})
        name = reference.get("label", "reference")
        if reference.get("caveat"):
            print(f"about {name}: {reference['caveat']}")
        if profile != reference["profile"]:
            print(f"this run is the {profile!r} profile, {name} the {reference['profile']!r} one: "
                  "expect other numbers (smaller runs move less and their intervals are wider)")
        print(f"{name}: the {reference['profile']} profile on {reference['cpu']}, {reference['date']}")
        columns[name] = {k: _shown(theirs.get(k)) for k in mine}
    columns["this run"] = {k: _shown(v) for k, v in mine.items()}
    return pd.DataFrame(columns)


def beside_reference(run_dir: str | Path, notebook: str, paths=REFERENCE_FILES):
    """This run's key figures (its saved metrics) beside the reference runs', as a small table."""
    return beside_figures(figures(run_dir, notebook), notebook, run_dir, paths)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Write data/reference_run.json from a finished full run.")
    parser.add_argument("run_dir", help="runs/<run-id> of a finished `make workbook` (full profile)")
    parser.add_argument("--out", default=str(REFERENCE_FILE))
    parser.add_argument("--caveat", default="", help="how the run differs from a plain one, shown to the learner")
    parser.add_argument("--label", default="reference", help="the head of its column beside a learner's run")
    args = parser.parse_args(argv)
    try:
        print(f"wrote {write_reference(args.run_dir, args.out, caveat=args.caveat, label=args.label)}")
    except (ReferenceError, FileNotFoundError) as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
