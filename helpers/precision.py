"""Which precision this machine should compute in, decided once from what it can do natively.

- **CUDA:** bf16 on a GPU that does it natively (Ampere and newer), fp16 on older ones.
- **CPU with native bf16** (AMX or AVX512-BF16 in the CPU flags, *and* a short matmul check confirms bf16 is
  faster than fp32 here): training keeps fp32 weights under bf16 autocast (the trainers' `bf16=True`), and
  inference loads bf16 weights.
- **Any other CPU:** fp32. Without native support bf16 is emulated, orders of magnitude slower than fp32, and a
  VM may show the flag without the speed: so the flags alone are not trusted.

`WORKBOOK_PRECISION=fp32` forces fp32 (and `bf16` forces bf16, for measuring); the default is `auto`.
The matmul check takes well under a second and is cached per CPU and torch version in the model cache folder.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import torch

from helpers.cache import write_atomic
from helpers.paths import cache_dir

ENV_VAR = "WORKBOOK_PRECISION"
CHOICES = ("auto", "fp32", "bf16")
BF16_FLAGS = ("amx_bf16", "avx512_bf16")
MIN_SPEEDUP = 1.2  # bf16 must beat fp32 by this much in the check: autocast pays a cast per op


@dataclass(frozen=True)
class Precision:
    """The decision: `name` is what computes ("fp32", "bf16" or "fp16"), `reason` says why, in one line."""

    name: str
    reason: str
    device: str = "cpu"

    @property
    def autocast(self) -> bool:
        """True when training runs fp32 weights under reduced-precision autocast."""
        return self.name in ("bf16", "fp16")

    def as_dict(self) -> dict:
        return asdict(self)


def cpu_flags() -> tuple[str, set[str]]:
    """(model name, feature flags) of this CPU, from /proc/cpuinfo where there is one."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), set()
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                platform.processor() or platform.machine())
    flags = next((set(line.split(":", 1)[1].split()) for line in text.splitlines() if line.startswith("flags")), set())
    return name, flags


def matmul_gflops(n: int = 512, repeats: int = 3, dtype=torch.float32) -> float:
    """Measured n x n matmul throughput in GFLOP/s (one warm-up, then `repeats` timed)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n ** 3 * repeats / (time.perf_counter() - t0) / 1e9


def _check_file() -> Path:
    return cache_dir() / "precision-check.json"


def cpu_bf16_check(refresh: bool = False) -> dict:
    """{"native": bool, "flags": [...], "fp32_gflops", "bf16_gflops", "speedup"}: whether bf16 is native on this
    CPU, from its flags confirmed by a 512x512 matmul check. Cached per CPU model, flags and torch version."""
    name, flags = cpu_flags()
    found = sorted(f for f in BF16_FLAGS if f in flags)
    key = {"cpu": name, "flags": found, "torch": torch.__version__, "threads": torch.get_num_threads()}
    path = _check_file()
    if not refresh and path.exists():
        try:
            cached = json.loads(path.read_text())
            if cached.get("key") == key:
                return cached["result"]
        except (OSError, ValueError, KeyError):
            pass  # a torn or foreign file: measure again
    if not found:  # no native bf16: not even timed, since emulated bf16 takes seconds per matmul
        result = {"native": False, "flags": found, "fp32_gflops": None, "bf16_gflops": None, "speedup": None}
    else:
        # the best of 3 interleaved tries each: a busy core or a first-call kernel JIT slows one try, not all
        fp32 = bf16 = 0.0
        for _ in range(3):
            fp32 = max(fp32, matmul_gflops(dtype=torch.float32))
            bf16 = max(bf16, matmul_gflops(dtype=torch.bfloat16))
        result = {"native": bf16 >= MIN_SPEEDUP * fp32, "flags": found, "fp32_gflops": round(fp32, 1),
                  "bf16_gflops": round(bf16, 1), "speedup": round(bf16 / fp32, 2)}
        if not result["native"]:
            return result  # flags say native but the check disagrees: measured again next time, never cached
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"key": key, "result": result}, indent=2) + "\n")
    except OSError:
        pass  # a read-only cache only costs the check again next time
    return result


def requested() -> str:
    """WORKBOOK_PRECISION, checked: auto (default), fp32 or bf16."""
    value = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if value not in CHOICES:
        raise ValueError(f"{ENV_VAR}={os.environ.get(ENV_VAR)!r} is not one of {', '.join(CHOICES)}")
    return value


def _cuda_native_bf16() -> bool:
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # older torch without the keyword
        return torch.cuda.get_device_capability()[0] >= 8


def decide(dev: torch.device | str = "cpu") -> Precision:
    """The precision for `dev`, following WORKBOOK_PRECISION and the machine (see the module docstring)."""
    dev = torch.device(dev)
    want = requested()
    if dev.type == "cuda":
        if want == "fp32":
            return Precision("fp32", f"{ENV_VAR}=fp32", "cuda")
        if _cuda_native_bf16():
            return Precision("bf16", "CUDA GPU with native bf16", "cuda")
        if want == "bf16":
            return Precision("bf16", f"{ENV_VAR}=bf16 (this GPU emulates it)", "cuda")
        return Precision("fp16", "CUDA GPU without native bf16: fp16 mixed precision", "cuda")
    if dev.type != "cpu":
        return Precision("fp32", f"{dev.type}: fp32", dev.type)
    if want == "fp32":
        return Precision("fp32", f"{ENV_VAR}=fp32")
    if want == "bf16":
        return Precision("bf16", f"{ENV_VAR}=bf16 (forced, whatever the CPU does natively)")
    check = _cached_cpu_check()
    if check["native"]:
        return Precision("bf16", f"CPU with native bf16 ({', '.join(check['flags'])}; bf16 matmul "
                                 f"{check['speedup']}x fp32 in the check)")
    if check["flags"]:
        return Precision("fp32", f"CPU flags {', '.join(check['flags'])} but bf16 matmul only {check['speedup']}x "
                                 "fp32 in the check")
    return Precision("fp32", "CPU without native bf16 (no amx_bf16 or avx512_bf16 flag)")


@lru_cache(maxsize=1)
def _cached_cpu_check() -> dict:
    return cpu_bf16_check()


def trainer_kwargs(dev: torch.device | str = "cpu") -> dict:
    """TrainingArguments/DPOConfig/SFTConfig precision flags: weights stay fp32, autocast does the rest."""
    name = decide(dev).name
    return {"bf16": name == "bf16", "fp16": name == "fp16"}


def weights_dtype(dev: torch.device | str = "cpu", training: bool = False) -> torch.dtype:
    """The dtype to load weights in. CUDA with native bf16: bf16 (its rule before CPUs got a choice). CPU: fp32
    for training (autocast computes in bf16 where native; the optimizer keeps fp32 weights), bf16 for
    inference where native."""
    prec = decide(dev)
    if torch.device(dev).type == "cuda":
        return torch.bfloat16 if prec.name == "bf16" else torch.float32
    if prec.name == "bf16" and not training:
        return torch.bfloat16
    return torch.float32
