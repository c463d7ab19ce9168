"""`make bench`: how fast the workbook runs on this machine, against what the hardware allows.

Measures, in one run: the fp32 matmul throughput (the bound for CPU training); DPO training throughput with the
workbook's settings (trained tokens/s and model-FLOPs utilisation), and the same with TRL's CPU path (LM head over
every position) and with TRL's defaults (bf16 autocast + gradient checkpointing) for comparison; batched vs
one-at-a-time generation; peak memory of training with the adapter-as-reference vs a separate reference model;
and the wall time of each notebook from the latest full run. Prints a table and writes bench.json into
runs/bench-<time>/.

MFU counts 6 * N_params * trained tokens/s (policy forward 2N + backward through the frozen weights 2N, which
computes activation gradients only, + reference forward 2N), divided by the measured matmul bound: a simple,
conventional figure, not an exact FLOP count. N includes the tied 28M-parameter LM head, which the compact head
applies to completion tokens only, so the figure credits that saving as throughput. Trained tokens are the
non-padding tokens of prompt+chosen and prompt+rejected.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from helpers.models import REPO_ROOT


def cpu_info() -> tuple[str, set[str]]:
    """(model name, feature flags) of this CPU, from /proc/cpuinfo where there is one."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), set()
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                platform.processor() or platform.machine())
    flags = next((set(line.split(":", 1)[1].split()) for line in text.splitlines() if line.startswith("flags")), set())
    return name, flags


def matmul_gflops(n: int = 2048, repeats: int = 10, dtype=torch.float32) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n ** 3 * repeats / (time.perf_counter() - t0) / 1e9


def bench_rows(n: int, seed: int = 0) -> list[dict]:
    """Realistic DPO triples from the eval split: the gold answer vs a wrong-severity variant."""
    from helpers.task import build_messages, format_answer, load_split

    rows = []
    for e in load_split("eval")[:n]:
        wrong = {"SEV1": "SEV3", "SEV2": "SEV4", "SEV3": "SEV1", "SEV4": "SEV2"}[e["severity"]]
        rows.append({"prompt": build_messages(e["report"]),
                     "chosen": [{"role": "assistant", "content": format_answer(e["severity"], e["component"],
                                                                               e["summary"])}],
                     "rejected": [{"role": "assistant", "content": format_answer(wrong, e["component"],
                                                                                 e["summary"] + " Unclear.")}]})
    return rows


def fresh_adapter(path: Path) -> Path:
    """A LoRA adapter on the base model with random B (so policy != base), standing in for an SFT adapter."""
    from peft import get_peft_model

    from helpers.models import load_model
    from helpers.training import lora_config

    model, _ = load_model()
    cfg = lora_config()
    cfg.init_lora_weights = False
    get_peft_model(model, cfg).save_pretrained(path)
    return path


def dpo_throughput(adapter: Path, steps: int = 4, warmup: int = 1, separate_ref: bool = False,
                   trl_defaults: bool = False, batch_size: int = 2, compact: bool = True) -> dict:
    """Trained tokens/s over `steps` optimizer steps after `warmup`, with the workbook's DPO settings."""
    from datasets import Dataset
    from transformers import TrainerCallback

    from helpers.training import DPORunConfig, make_dpo_trainer, trained_tokens

    config = DPORunConfig(sft_adapter=str(adapter), batch_size=batch_size, grad_accum=1, max_steps=steps + warmup,
                          save_steps=10_000, logging_steps=10_000, compact_lm_head=compact,
                          precompute_ref=False)  # the reference forward is timed in every step, as MFU counts it
    overrides = {"bf16": True, "gradient_checkpointing": True} if trl_defaults else {}
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

            from helpers.models import load_model
            from helpers.training import dpo_args, load_sft_policy

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
            "tokens_per_second": tokens_per_step * len(measured) / sum(measured), "steps_timed": len(measured)}


def generation_throughput(n_prompts: int = 16, max_new_tokens: int = 64) -> dict:
    from helpers.generation import generate
    from helpers.models import load_model
    from helpers.task import format_prompt, load_split

    model, tok = load_model()
    prompts = [format_prompt(tok, e["report"]) for e in load_split("eval")[:n_prompts]]

    def run(batch_size):
        t0 = time.perf_counter()
        outs = generate(model, tok, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size, progress=False)
        seconds = time.perf_counter() - t0
        tokens = sum(len(tok(o, add_special_tokens=False).input_ids) for o in outs)
        return tokens / seconds, outs

    batched, out_b = run(16)
    single, out_s = run(1)
    same = sum(a == b for a, b in zip(out_b, out_s, strict=True))
    return {"batched_tokens_per_s": batched, "single_tokens_per_s": single, "speedup": batched / single,
            "identical_outputs": f"{same}/{len(out_b)}"}


def sampling_throughput(ns=(2, 4, 8), n_prompts: int = 8, max_new_tokens: int = 64) -> dict:
    """N sampled answers per prompt (helpers.generation.sample_n): one shared prefill per prompt vs the naive way
    (each prompt repeated N times), new tokens per second for each N; same seed, so both ways sample the same
    text (counted)."""
    from helpers.generation import sample_n
    from helpers.models import load_model
    from helpers.task import format_prompt, load_split

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


def peak_rss_mb(mode: str, adapter: Path) -> tuple[float, float]:
    """(peak, runtime) resident memory in MB of 2 DPO steps in a fresh process (adapter-as-reference or a
    separate reference copy); runtime is the RSS after importing torch, transformers, TRL and PEFT, before any
    model is loaded: what every setup pays whatever its reference."""
    code = ("import os, resource; from pathlib import Path; import trl, peft, transformers, datasets; "
            "from helpers.bench import dpo_throughput; "
            "runtime = int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024; "
            f"dpo_throughput(Path({str(adapter)!r}), steps=1, warmup=1, separate_ref={mode == 'separate'}); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, runtime)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    peak, runtime = out.stdout.strip().splitlines()[-1].split()
    return int(peak) / 1024, int(runtime) / 1024


def notebook_walls(runs_dir: Path | None = None) -> dict:
    """Wall time of each notebook in the latest completed full-profile run, from its run.json."""
    runs = sorted(Path(runs_dir or REPO_ROOT / "runs").glob("*/run.json"), key=lambda p: p.stat().st_mtime,
                  reverse=True)
    for path in runs:
        record = json.loads(path.read_text())
        nbs = record.get("notebooks", {})
        if record.get("profile") == "full" and nbs and all(v.get("status") == "ok" for v in nbs.values()):
            return {"run": record["run_id"], **{k: v["wall_s"] for k, v in nbs.items()},
                    "total_s": sum(v["wall_s"] for v in nbs.values())}
    return {}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--skip-trl-defaults", action="store_true",
                        help="skip timing TRL's defaults (bf16 autocast + gradient checkpointing): minutes per step "
                             "on CPUs without AMX")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args(argv)
    from helpers.models import load_model

    machine, flags = cpu_info()
    out = {"machine": machine, "cpus": os.cpu_count(), "amx_bf16": "amx_bf16" in flags,
           "torch_threads": torch.get_num_threads(), "date": dt.date.today().isoformat()}
    out["matmul_fp32_gflops"] = matmul_gflops()
    model, _ = load_model()
    n_params = sum(p.numel() for p in model.parameters())
    del model
    out["n_params"] = n_params
    with tempfile.TemporaryDirectory() as tmp:
        adapter = fresh_adapter(Path(tmp) / "adapter")
        dpo = dpo_throughput(adapter, steps=args.steps)
        dpo["mfu"] = 6 * n_params * dpo["tokens_per_second"] / (out["matmul_fp32_gflops"] * 1e9)
        out["dpo"] = dpo
        # the lever this workbook pulls, measured against TRL's own CPU path in the same run
        full_head = dpo_throughput(adapter, steps=args.steps, compact=False)
        out["dpo_full_lm_head"] = full_head
        out["dpo_speedup_compact_lm_head"] = dpo["tokens_per_second"] / full_head["tokens_per_second"]
        if not args.skip_trl_defaults:
            slow = dpo_throughput(adapter, steps=1, warmup=1, trl_defaults=True, compact=False)
            out["dpo_trl_defaults"] = slow
            out["dpo_speedup_vs_trl_defaults"] = dpo["tokens_per_second"] / slow["tokens_per_second"]
        out["generation"] = generation_throughput()
        out["sampling"] = sampling_throughput()
        if not args.skip_memory:
            (adapter_mb, runtime_a), (separate_mb, runtime_s) = (peak_rss_mb("adapter", adapter),
                                                                 peak_rss_mb("separate", adapter))
            runtime = min(runtime_a, runtime_s)
            out["memory"] = {"adapter_as_reference_mb": adapter_mb, "separate_reference_mb": separate_mb,
                             "ratio": adapter_mb / separate_mb, "runtime_mb": runtime,
                             "ratio_above_runtime": (adapter_mb - runtime) / (separate_mb - runtime)}
    out["notebooks_full_profile"] = notebook_walls()
    run_dir = REPO_ROOT / "runs" / f"bench-{dt.datetime.now():%Y%m%d-%H%M%S}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "bench.json").write_text(json.dumps(out, indent=2) + "\n")
    rows = [
        ("fp32 matmul (the bound)", f"{out['matmul_fp32_gflops']:.1f} GFLOP/s", ""),
        ("DPO training", f"{dpo['tokens_per_second']:.0f} trained tokens/s",
         f"{dpo['step_seconds']:.1f} s/step (batch 2)"),
        ("DPO model-FLOPs utilisation", f"{100 * dpo['mfu']:.0f}%", "target >= 50%"),
        ("DPO, TRL's LM head over every position", f"{out['dpo_full_lm_head']['tokens_per_second']:.0f} "
         "trained tokens/s", f"compact head is {out['dpo_speedup_compact_lm_head']:.2f}x faster"),
        ("generation, batch 16", f"{out['generation']['batched_tokens_per_s']:.0f} new tokens/s", ""),
        ("generation, one at a time", f"{out['generation']['single_tokens_per_s']:.0f} new tokens/s",
         f"batched is {out['generation']['speedup']:.1f}x (target >= 6x)"),
    ]
    for n, row in out["sampling"].items():
        rows.append((f"sampling {n} per prompt, shared prefill", f"{row['shared_tokens_per_s']:.0f} new tokens/s",
                     f"{row['speedup']:.2f}x the naive way ({row['naive_tokens_per_s']:.0f}); same answers "
                     f"{row['identical_answers']}"))
    if "memory" in out:
        m = out["memory"]
        rows.append(("peak RSS, adapter as reference", f"{m['adapter_as_reference_mb']:.0f} MB",
                     f"{100 * m['ratio']:.0f}% of a separate reference copy ({m['separate_reference_mb']:.0f} MB); "
                     "target <= 60%"))
        rows.append(("  the same above the runtime", f"{m['adapter_as_reference_mb'] - m['runtime_mb']:.0f} MB",
                     f"{100 * m['ratio_above_runtime']:.0f}% (torch+transformers+TRL imported: "
                     f"{m['runtime_mb']:.0f} MB)"))
    if "dpo_trl_defaults" in out:
        rows.append(("DPO with TRL defaults (bf16, checkpointing)",
                     f"{out['dpo_trl_defaults']['tokens_per_second']:.0f} trained tokens/s",
                     f"workbook settings are {out['dpo_speedup_vs_trl_defaults']:.2f}x as fast"))
    for k, v in out["notebooks_full_profile"].items():
        if k != "run":
            rows.append((f"full profile: {k}", f"{v / 60:.1f} min", out["notebooks_full_profile"]["run"]))
    width = max(len(r[0]) for r in rows)
    print(f"\nbench on {out['machine']} ({out['cpus']} CPUs), {out['date']}")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>26}  {note}")
    print(f"\nwritten: {run_dir / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
