"""`make bench`: how fast the workbook runs on this machine, against what the hardware allows.

Measures, in one run:
- the precision the workbook uses here (helpers.precision) and the matmul bounds: fp32, and bf16 where native;
- DPO training throughput with the workbook's settings (trained tokens/s) and its model-FLOPs utilisation (MFU)
  against the bound of the precision in use and against the fp32 bound; the same in fp32, without gradient
  checkpointing, with TRL's CPU path (LM head over every position), and with TRL's defaults (bf16 autocast +
  gradient checkpointing + full LM head), for comparison;
- greedy generation batched (the workbook's batch of 32, shared system prompt) vs one prompt at a time;
- N sampled answers per prompt for one prefill vs the naive way, N = 2, 4, 8;
- peak resident memory of DPO training (a fresh process), and each notebook's wall time and peak memory from the
  latest full-profile run.json.
Prints a table and writes bench.json into runs/bench-<time>/.

MFU counts 6 * N_params * trained tokens/s (policy forward 2N + backward through the frozen weights 2N, which
computes activation gradients only, + reference forward 2N), divided by the measured matmul bound: a simple,
conventional figure, not an exact FLOP count. N includes the tied 28M-parameter LM head, which the compact head
applies to completion tokens only, so the figure credits that saving as throughput. Trained tokens are the
non-padding tokens of prompt+chosen and prompt+rejected. Each lever's ratio is paired: the workbook's settings are
timed again just before the lever is, so a machine whose speed drifts during the bench does not move the ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from helpers.agreement import autocast_agreement
from helpers.generation import generate, sample_n
from helpers.kernelspec import find_allocator, kernel_env
from helpers.models import load_model, load_tokenizer, precision_used
from helpers.paths import REPO_ROOT, RUNS_DIR
from helpers.precision import BF16_FLAGS, cpu_bf16_check, cpu_flags, matmul_gflops
from helpers.profiles import NOTEBOOKS
from helpers.task import build_messages, format_answer, format_prompt, load_split
from helpers.training import (
    DPORunConfig,
    dpo_args,
    load_sft_policy,
    lora_config,
    make_dpo_trainer,
    sft_records,
    train_sft,
    trained_tokens,
)

MEMORY_BUDGET_MB = 2.5 * 1024  # each notebook within 2.5 GB resident on the CPU


def bench_rows(n: int, seed: int = 0) -> list[dict]:
    """Realistic DPO triples from the eval split: the gold answer vs a wrong-severity variant."""

    rows = []
    for e in load_split("eval")[:n]:
        wrong = {"SEV1": "SEV3", "SEV2": "SEV4", "SEV3": "SEV1", "SEV4": "SEV2"}[e["severity"]]
        rows.append({"prompt": build_messages(e["report"]),
                     "chosen": [{"role": "assistant", "content": format_answer(e["severity"], e["component"],
                                                                               e["summary"])}],
                     "rejected": [{"role": "assistant", "content": format_answer(wrong, e["component"],
                                                                                 e["summary"] + " Unclear.")}]})
    return rows


def fresh_adapter(path: Path, seed: int = 0) -> Path:
    """A LoRA adapter on the base model with random B (so policy != base), standing in for an SFT adapter. Its
    weights come from `seed` alone, in a forked RNG: not from whatever earlier code left in torch's global RNG."""
    from peft import get_peft_model


    model, _ = load_model(dtype=torch.float32)  # the same draws on every CPU, whatever its precision
    cfg = lora_config()
    cfg.init_lora_weights = False
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        get_peft_model(model, cfg).save_pretrained(path)
    return path


# the DPO settings before prefix sharing: one pair per micro-batch, prompt computed twice, activations recomputed,
# layers run eagerly
BEFORE_SHARING = {"batch_size": 1, "share_prefix": False, "checkpointing": True, "compile_layers": False,
                  "frozen_bf16": False}


def dpo_throughput(adapter: Path, steps: int = 4, warmup: int = 2, separate_ref: bool = False,
                   trl_defaults: bool = False, batch_size: int | None = None, compact: bool = True, fp32: bool = False,
                   checkpointing: bool | None = None, share_prefix: bool = True,
                   compile_layers: bool | None = None, frozen_bf16: bool | None = None) -> dict:
    """Trained tokens/s over `steps` optimizer steps (of one micro-batch each) after `warmup` (where compiled layers
    compile), with the workbook's DPO settings (in the machine's precision; `batch_size`, `checkpointing`,
    `compile_layers` and `frozen_bf16` (its frozen_in_autocast_dtype) default to DPORunConfig's; `fp32` forces
    fp32, `trl_defaults` uses TRL's bf16 + gradient checkpointing, `share_prefix=False` TRL's batches)."""
    from datasets import Dataset
    from transformers import TrainerCallback

    defaults = DPORunConfig()
    batch_size = defaults.batch_size if batch_size is None else batch_size
    checkpointing = defaults.gradient_checkpointing if checkpointing is None else checkpointing
    compile_layers = defaults.compile_layers if compile_layers is None else compile_layers
    frozen_bf16 = defaults.frozen_in_autocast_dtype if frozen_bf16 is None else frozen_bf16
    config = DPORunConfig(sft_adapter=str(adapter), batch_size=batch_size, grad_accum=1, max_steps=steps + warmup,
                          save_steps=10_000, logging_steps=10_000, compact_lm_head=compact, share_prefix=share_prefix,
                          gradient_checkpointing=checkpointing, compile_layers=compile_layers,
                          frozen_in_autocast_dtype=frozen_bf16,
                          precompute_ref=False)  # the reference forward is timed in every step, as MFU counts it
    overrides = {"bf16": True, "gradient_checkpointing": True} if trl_defaults else {}
    if fp32:
        overrides = {"bf16": False, "fp16": False}
    rows = bench_rows(batch_size * (steps + warmup))
    times = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter() - self.t0)

    with tempfile.TemporaryDirectory() as tmp:
        if separate_ref:  # the two-model setup: a second, frozen copy of the SFT model as ref_model
            from trl import DPOTrainer

            policy, tok = load_sft_policy(config.model_name, config.sft_adapter)
            ref, _ = load_model(adapter=config.sft_adapter)
            trainer = DPOTrainer(model=policy, ref_model=ref,
                                 args=dpo_args(config, tmp, has_eval=False, **overrides),
                                 train_dataset=Dataset.from_list(rows), processing_class=tok, callbacks=[Clock()])
        else:
            trainer = make_dpo_trainer(config, Dataset.from_list(rows), output_dir=tmp, callbacks=[Clock()],
                                       **overrides)
        trainer.train()
        tokens_per_step = trained_tokens(trainer.processing_class, rows) / (steps + warmup)
    measured = times[warmup:]
    return {"step_seconds": sum(measured) / len(measured), "tokens_per_step": tokens_per_step,
            "tokens_per_second": tokens_per_step * len(measured) / sum(measured), "steps_timed": len(measured),
            "batch_size": batch_size, "checkpointing": checkpointing, "share_prefix": share_prefix,
            "compile_layers": compile_layers, "frozen_bf16": frozen_bf16}


def sft_throughput(batch_size: int, grad_accum: int, checkpointing: bool, n: int = 24) -> dict:
    """The bootstrap SFT's trained tokens/s on `n` SFT examples, one epoch, with these micro-batch settings (the
    setup and model load included, the same in each setting)."""
    examples = load_split("sft")[:n]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        train_sft(examples, tmp, epochs=1, batch_size=batch_size, grad_accum=grad_accum,
                  gradient_checkpointing=checkpointing, save_steps=10_000)
        seconds = time.perf_counter() - t0
    tok = load_tokenizer()
    tokens = sum(len(tok.apply_chat_template(r["prompt"] + r["completion"], tokenize=True, return_dict=True)
                     ["input_ids"]) for r in sft_records(examples))
    return {"seconds": seconds, "tokens_per_second": tokens / seconds, "batch_size": batch_size,
            "grad_accum": grad_accum, "checkpointing": checkpointing}


def generation_throughput(n_prompts: int = 32, max_new_tokens: int = 64, batch_size: int = 32,
                          n_single: int = 8) -> dict:
    """Greedy generation in the workbook's inference precision: `n_prompts` in batches of `batch_size` with the
    shared system prompt computed once per batch, the same plainly left-padded, and the first `n_single` one at a
    time; new tokens per second for each, and how many answers agree."""

    model, tok = load_model()
    prompts = [format_prompt(tok, e["report"]) for e in load_split("eval")[:n_prompts]]

    def run(subset, bs, share=True):
        t0 = time.perf_counter()
        outs = generate(model, tok, subset, max_new_tokens=max_new_tokens, batch_size=bs, progress=False,
                        share_prefix=share)
        seconds = time.perf_counter() - t0
        tokens = sum(len(tok(o, add_special_tokens=False).input_ids) for o in outs)
        return tokens / seconds, outs

    batched, out_b = run(prompts, batch_size)
    plain, out_p = run(prompts, batch_size, share=False)
    single, out_s = run(prompts[:n_single], 1)
    return {"dtype": str(next(model.parameters()).dtype).replace("torch.", ""), "batch_size": batch_size,
            "batched_tokens_per_s": batched, "plain_batched_tokens_per_s": plain, "single_tokens_per_s": single,
            "speedup": batched / single, "speedup_plain": plain / single,
            "same_as_plain": f"{sum(a == b for a, b in zip(out_b, out_p, strict=True))}/{len(out_b)}",
            "same_as_single": f"{sum(a == b for a, b in zip(out_b, out_s, strict=False))}/{len(out_s)}"}


def sampling_throughput(ns=(2, 4, 8), n_prompts: int = 8, max_new_tokens: int = 64) -> dict:
    """N sampled answers per prompt (helpers.generation.sample_n): one shared prefill per prompt vs the naive way
    (each prompt repeated N times), new tokens per second for each N; same seed, so both ways sample the same
    text (counted)."""

    model, tok = load_model()
    prompts = [format_prompt(tok, e["report"]) for e in load_split("prefs")[:n_prompts]]
    out = {}
    for n in ns:
        temps = [0.7, 1.2, 1.0, 1.0, 0.7, 1.2, 1.0, 1.0][:n] if n <= 8 else [1.0] * n
        row = {}
        texts = {}
        for shared in (True, False):
            t0 = time.perf_counter()
            answers = sample_n(model, tok, prompts, temps, max_new_tokens=max_new_tokens, batch_size=32,
                               seed=0, shared_prefill=shared, progress=False)
            seconds = time.perf_counter() - t0
            tokens = sum(len(tok(a, add_special_tokens=False).input_ids) for group in answers for a in group)
            row["shared_tokens_per_s" if shared else "naive_tokens_per_s"] = tokens / seconds
            texts[shared] = answers
        row["speedup"] = row["shared_tokens_per_s"] / row["naive_tokens_per_s"]
        same = sum(a == b for ga, gb in zip(texts[True], texts[False], strict=True)
                   for a, b in zip(ga, gb, strict=True))
        row["identical_answers"] = f"{same}/{n * len(prompts)}"
        out[f"N={n}"] = row
    return out


def bf16_agreement(adapter: Path) -> dict:
    """How far bf16 autocast moves token log-probs and the DPO loss from fp32 here, against bf16's own bounds."""

    policy, tokenizer = load_model(adapter=adapter, trainable_adapter=True)
    policy.eval()
    result = autocast_agreement(policy, tokenizer, bench_rows(3))
    return {k: v for k, v in result.items() if not k.startswith("logps")}


def peak_rss_mb(mode: str, adapter: Path) -> tuple[float, float]:
    """(peak, runtime) resident memory in MB of 2 DPO steps in a fresh process with the notebook kernels'
    allocator ("adapter": the workbook's settings, "before": the settings before prefix sharing, "separate": a
    second reference copy); runtime is the RSS after importing torch, transformers, TRL and PEFT, before any model
    is loaded."""
    code = ("import os; from pathlib import Path; import trl, peft, transformers, datasets; "
            "from helpers.bench import BEFORE_SHARING, dpo_throughput; from helpers.memory import high_water_mb; "
            "runtime = int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024; "
            f"dpo_throughput(Path({str(adapter)!r}), steps=1, warmup=1, separate_ref={mode == 'separate'}"
            f"{', **BEFORE_SHARING' if mode == 'before' else ''}); "
            "print(high_water_mb(), runtime / 1024)")
    # with the notebook kernels' allocator settings (helpers.kernelspec): the memory a notebook would hold
    env = {**os.environ, **kernel_env(find_allocator())}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True,
                         env=env)
    peak, runtime = out.stdout.strip().splitlines()[-1].split()
    return float(peak), float(runtime)


def latest_full_run(runs_dir: Path | None = None) -> dict | None:
    """run.json of the latest full-profile run in which every session notebook ran and finished (a run of Session B
    alone, such as a recipe candidate, is not the week), or None."""
    runs = sorted(Path(runs_dir or RUNS_DIR).glob("*/run.json"), key=lambda p: p.stat().st_mtime,
                  reverse=True)
    for path in runs:
        record = json.loads(path.read_text())
        nbs = record.get("notebooks", {})
        if record.get("profile") == "full" and all(nbs.get(name, {}).get("status") == "ok" for name in NOTEBOOKS):
            return record
    return None


def notebook_walls(runs_dir: Path | None = None) -> dict:
    """Wall time of each notebook in the latest completed full-profile run, from its run.json."""
    record = latest_full_run(runs_dir)
    if record is None:
        return {}
    nbs = record["notebooks"]
    return {"run": record["run_id"], **{k: v["wall_s"] for k, v in nbs.items()},
            "total_s": sum(v["wall_s"] for v in nbs.values())}


def notebook_peaks(runs_dir: Path | None = None) -> dict:
    """Peak resident memory (MB) of each notebook's kernel in the latest completed full-profile run (recorded by
    the runner; older runs have none)."""
    record = latest_full_run(runs_dir)
    if record is None:
        return {}
    peaks = {k: v["peak_rss_mb"] for k, v in record["notebooks"].items() if "peak_rss_mb" in v}
    return {"run": record["run_id"], **peaks} if peaks else {}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--skip-trl-defaults", action="store_true",
                        help="skip timing TRL's defaults (bf16 autocast + gradient checkpointing); skipped anyway "
                             "where bf16 is not native (minutes per step)")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args(argv)

    t_start = time.perf_counter()
    machine, flags = cpu_flags()
    check = cpu_bf16_check()
    out = {"machine": machine, "cpus": os.cpu_count(), "bf16_flags": [f for f in BF16_FLAGS if f in flags],
           "torch_threads": torch.get_num_threads(), "date": dt.date.today().isoformat(),
           "precision": precision_used()}
    out["matmul_fp32_gflops"] = matmul_gflops(2048, 10)
    out["matmul_bf16_gflops"] = matmul_gflops(2048, 10, torch.bfloat16) if check["flags"] else None
    bound = out["matmul_bf16_gflops"] if out["precision"]["name"] == "bf16" else out["matmul_fp32_gflops"]
    model, _ = load_model()
    n_params = sum(p.numel() for p in model.parameters())
    del model
    out["n_params"] = n_params

    def mfu(tokens_per_s, gflops):
        return 6 * n_params * tokens_per_s / (gflops * 1e9)

    with tempfile.TemporaryDirectory() as tmp:
        adapter = fresh_adapter(Path(tmp) / "adapter")
        dpo = dpo_throughput(adapter, steps=args.steps)
        dpo["mfu"] = mfu(dpo["tokens_per_second"], bound)
        dpo["mfu_vs_fp32_bound"] = mfu(dpo["tokens_per_second"], out["matmul_fp32_gflops"])
        out["dpo"] = dpo
        # each lever turned back, one at a time, in this run: "ratio" is the workbook's tokens/s over the lever's
        levers = {"prefix sharing": {"share_prefix": False}, "micro-batch": {"batch_size": 1},
                  "checkpointing off": {"checkpointing": True}, "compact LM head": {"compact": False},
                  "compiled layers": {"compile_layers": False},
                  "all of them (the settings before prefix sharing)": BEFORE_SHARING}
        if out["precision"]["name"] != "fp32":
            levers["frozen weights stored in bf16"] = {"frozen_bf16": False}
            levers[f"{out['precision']['name']} autocast"] = {"fp32": True}
        # each ratio is paired: the workbook's settings timed again just before the lever, so a machine whose speed
        # drifts during the bench moves both sides of a ratio alike
        out["dpo_levers"] = {}
        for name, change in levers.items():
            paired = dpo_throughput(adapter, steps=args.steps)
            result = dpo_throughput(adapter, steps=args.steps, **change)
            out["dpo_levers"][name] = {**result, "workbook_tokens_per_second": paired["tokens_per_second"],
                                       "ratio": paired["tokens_per_second"] / result["tokens_per_second"]}
        if not args.skip_trl_defaults and check["native"]:
            slow = dpo_throughput(adapter, steps=1, warmup=1, trl_defaults=True, compact=False, share_prefix=False,
                                  batch_size=1, frozen_bf16=False)
            out["dpo_trl_defaults"] = slow
            out["dpo_speedup_vs_trl_defaults"] = dpo["tokens_per_second"] / slow["tokens_per_second"]
        out["sft"] = {"workbook": sft_throughput(2, 4, False), "micro-batch 4": sft_throughput(4, 2, False),
                      "checkpointing on": sft_throughput(2, 4, True)}
        if out["precision"]["name"] == "bf16":
            out["bf16_agreement"] = bf16_agreement(adapter)
        out["generation"] = generation_throughput()
        out["sampling"] = sampling_throughput()
        if not args.skip_memory:
            adapter_mb, runtime = peak_rss_mb("adapter", adapter)
            before_mb, _ = peak_rss_mb("before", adapter)
            out["memory"] = {"dpo_peak_mb": adapter_mb, "runtime_mb": runtime, "dpo_before_peak_mb": before_mb}
    out["notebooks_full_profile"] = notebook_walls()
    out["notebook_peaks_mb"] = notebook_peaks()
    out["bench_seconds"] = time.perf_counter() - t_start
    run_dir = RUNS_DIR / f"bench-{dt.datetime.now():%Y%m%d-%H%M%S}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "bench.json").write_text(json.dumps(out, indent=2) + "\n")
    print_table(out)
    print(f"\nwritten: {run_dir / 'bench.json'}")
    return 0


def print_table(out: dict) -> None:
    """The bench as a table a learner can read: what, measured, and the target or comparison."""
    dpo, gen, prec = out["dpo"], out["generation"], out["precision"]
    bf16 = out.get("matmul_bf16_gflops")
    rows = [
        ("precision used", prec["name"], prec["reason"]),
        ("fp32 matmul 2048²", f"{out['matmul_fp32_gflops']:.0f} GFLOP/s", "the fp32 bound"),
        ("bf16 matmul 2048²", f"{bf16:.0f} GFLOP/s" if bf16 else "not measured",
         f"{bf16 / out['matmul_fp32_gflops']:.2f}x fp32" if bf16 else "no bf16 flag: emulated, not timed"),
        ("DPO training", f"{dpo['tokens_per_second']:.0f} trained tokens/s",
         f"{dpo['step_seconds']:.1f} s/micro-batch of {dpo.get('batch_size', 1)} ({prec['name']}, prompt shared, "
         f"checkpointing {'on' if dpo.get('checkpointing') else 'off'}, layers "
         f"{'compiled' if dpo.get('compile_layers') else 'eager'})"),
        (f"DPO MFU vs the {prec['name']} bound", f"{100 * dpo['mfu']:.0f}%", ""),
        ("DPO MFU vs the fp32 bound", f"{100 * dpo['mfu_vs_fp32_bound']:.0f}%", ""),
    ]
    for name, lever in out.get("dpo_levers", {}).items():
        paired = lever.get("workbook_tokens_per_second")
        rows.append((f"  without {name}", f"{lever['tokens_per_second']:.0f} trained tokens/s",
                     f"the workbook's settings are {lever['ratio']:.2f}x"
                     + (f" (timed just before: {paired:.0f})" if paired else "")))
    for name, row in out.get("sft", {}).items():
        rows.append((f"SFT bootstrap, {name}", f"{row['tokens_per_second']:.0f} trained tokens/s",
                     f"micro-batch {row['batch_size']} x {row['grad_accum']}, checkpointing "
                     f"{'on' if row['checkpointing'] else 'off'}"))
    rows += [
        (f"greedy generation, batch {gen['batch_size']} ({gen['dtype']})",
         f"{gen['batched_tokens_per_s']:.0f} new tokens/s", "system prompt computed once per batch"),
        ("  the same, plain left padding", f"{gen['plain_batched_tokens_per_s']:.0f} new tokens/s",
         f"same answers {gen['same_as_plain']}"),
        ("  one prompt at a time", f"{gen['single_tokens_per_s']:.0f} new tokens/s",
         f"batched is {gen['speedup']:.1f}x (target >= 6x; plain {gen['speedup_plain']:.1f}x)"),
    ]
    for n, row in out["sampling"].items():
        rows.append((f"sampling {n} per prompt, one prefill", f"{row['shared_tokens_per_s']:.0f} new tokens/s",
                     f"{row['speedup']:.2f}x the naive way ({row['naive_tokens_per_s']:.0f}); same answers "
                     f"{row['identical_answers']}"))
    if "bf16_agreement" in out:
        agree = out["bf16_agreement"]
        rows.append(("bf16 vs fp32 token log-probs", f"RMS {agree['rms_token_diff']:.3f} nats",
                     f"bound {agree['token_bound']:.3f} (u·max|logit|/√3); DPO loss moved at most "
                     f"{max(agree['loss_diff']):.3f}"))
    if "memory" in out:
        before = out["memory"].get("dpo_before_peak_mb")
        rows.append(("peak RSS, 2 DPO steps (fresh process)", f"{out['memory']['dpo_peak_mb']:.0f} MB",
                     f"runtime alone {out['memory']['runtime_mb']:.0f} MB"
                     + (f"; the settings before prefix sharing {before:.0f} MB" if before else "")))
    if "dpo_trl_defaults" in out:
        rows.append(("DPO with TRL defaults (bf16, checkpointing)",
                     f"{out['dpo_trl_defaults']['tokens_per_second']:.0f} trained tokens/s",
                     f"workbook settings are {out['dpo_speedup_vs_trl_defaults']:.2f}x"))
    walls, peaks = out["notebooks_full_profile"], out["notebook_peaks_mb"]
    for k, v in walls.items():
        if k in ("run", "total_s"):
            continue
        peak = peaks.get(k)
        mem = f", peak {peak / 1024:.2f} GB" if peak else ""
        rows.append((f"full profile: {k}", f"{v / 60:.1f} min{mem}", walls["run"]))
    if walls:
        worst = max((v for k, v in peaks.items() if k != "run"), default=None)
        rows.append(("full profile: the week", f"{walls['total_s'] / 60:.1f} min",
                     "target <= 45 min with setup" + (f"; peak {worst / 1024:.2f} GB (target <= "
                                           f"{MEMORY_BUDGET_MB / 1024:.1f} GB)" if worst else "")))
    width = max(len(r[0]) for r in rows)
    print(f"\nbench on {out['machine']} ({out['cpus']} CPUs, bf16 flags: {', '.join(out['bf16_flags']) or 'none'}),"
          f" {out['date']}, {out.get('bench_seconds', 0) / 60:.1f} min")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>26}  {note}")


if __name__ == "__main__":
    sys.exit(main())
