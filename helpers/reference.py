"""A reference run's key figures, shown beside the learner's own, so a learner sees at once whether their run
behaves as expected (and the notebooks' prose never has to state one machine's numbers as facts).

The figures come from one file, data/reference_run.json, written by this module from a finished full-profile run
with the CPU and the date:

    python -m helpers.reference runs/<run-id>        # or: make reference RUN=runs/<run-id>
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
    }


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
                    caveat: str = "") -> Path:
    """Write the reference file from a finished run of the `allow_profile` profile, with the CPU and the date, and
    a `caveat` a learner should read beside its figures (how the run differs from a plain one), if any."""
    run_dir = Path(run_dir)
    profile = _run_profile(run_dir)
    if profile != allow_profile:
        raise ReferenceError(f"{run_dir}: a {profile!r} run; the reference comes from a {allow_profile!r} run")
    cpu, flags = cpu_flags()
    bf16 = sorted(f for f in flags if f in ("amx_bf16", "avx512_bf16"))
    record = json.loads((run_dir / "run.json").read_text())
    reference = {"run_id": run_dir.name, "profile": profile, "date": date.today().isoformat(),
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


def beside_reference(run_dir: str | Path, notebook: str, path: str | Path = REFERENCE_FILE):
    """This run's key figures beside the reference run's, as a small table; a line says how the runs differ
    (another profile: expect other numbers)."""
    import pandas as pd

    mine = figures(run_dir, notebook)
    reference = load_reference(path)
    if reference is None:
        print(f"no reference figures ({Path(path).name} is missing): this run's figures only")
        return pd.DataFrame({"this run": {k: _shown(v) for k, v in mine.items()}})
    theirs = reference["figures"].get(notebook, {})
    label = f"reference ({reference['profile']} profile, {reference['cpu']}, {reference['date']})"
    if reference.get("caveat"):
        print(f"about the reference run: {reference['caveat']}")
    profile = _run_profile(Path(run_dir))
    if profile != reference["profile"]:
        print(f"this run is the {profile!r} profile, the reference the {reference['profile']!r} one: "
              "expect other numbers (smaller runs move less and their intervals are wider)")
    return pd.DataFrame({label: {k: _shown(theirs.get(k)) for k in mine},
                         "this run": {k: _shown(v) for k, v in mine.items()}})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Write data/reference_run.json from a finished full run.")
    parser.add_argument("run_dir", help="runs/<run-id> of a finished `make workbook` (full profile)")
    parser.add_argument("--out", default=str(REFERENCE_FILE))
    parser.add_argument("--caveat", default="", help="how the run differs from a plain one, shown to the learner")
    args = parser.parse_args(argv)
    try:
        print(f"wrote {write_reference(args.run_dir, args.out, caveat=args.caveat)}")
    except (ReferenceError, FileNotFoundError) as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
