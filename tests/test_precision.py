"""Precision follows the machine: bf16 only where it is native, fp32 on demand, and bf16 changes little."""

import json

import pytest
import torch

from helpers import models, precision


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A clean decision: no cached check, no WORKBOOK_PRECISION, the cache in tmp_path."""
    monkeypatch.delenv(precision.ENV_VAR, raising=False)
    monkeypatch.setenv("DPO_WORKBOOK_CACHE", str(tmp_path))
    precision._cached_cpu_check.cache_clear()
    return monkeypatch


def _cpu(monkeypatch, native: bool, flags=("avx512_bf16",)):
    monkeypatch.setattr(precision, "_cached_cpu_check",
                        lambda: {"native": native, "flags": list(flags), "speedup": 4.0 if native else 0.5})


def test_native_bf16_cpu_trains_under_autocast_and_infers_in_bf16(fresh):
    _cpu(fresh, native=True)
    cpu = torch.device("cpu")
    assert models.precision_kwargs(cpu) == {"bf16": True, "fp16": False}
    assert models.model_dtype(cpu) == torch.bfloat16
    assert models.model_dtype(cpu, training=True) == torch.float32  # the optimizer keeps fp32 weights
    assert "native bf16" in models.precision_used(cpu)["reason"]


@pytest.mark.parametrize("flags", [(), ("avx512_bf16",)])
def test_cpu_without_native_bf16_stays_fp32(fresh, flags):
    """No flag, or a flag the matmul check does not confirm (an emulating VM): fp32 everywhere."""
    _cpu(fresh, native=False, flags=flags)
    cpu = torch.device("cpu")
    assert models.precision_kwargs(cpu) == {"bf16": False, "fp16": False}
    assert models.model_dtype(cpu) == models.model_dtype(cpu, training=True) == torch.float32


def test_workbook_precision_fp32_forces_fp32(fresh):
    _cpu(fresh, native=True)
    fresh.setenv(precision.ENV_VAR, "fp32")
    cpu = torch.device("cpu")
    assert models.precision_kwargs(cpu) == {"bf16": False, "fp16": False}
    assert models.model_dtype(cpu) == torch.float32
    assert models.precision_used(cpu) == {"name": "fp32", "reason": "WORKBOOK_PRECISION=fp32", "device": "cpu"}


def test_a_bad_precision_setting_names_itself(fresh):
    fresh.setenv(precision.ENV_VAR, "half")
    with pytest.raises(ValueError, match=r"WORKBOOK_PRECISION='half' is not one of auto, fp32, bf16"):
        models.precision_kwargs(torch.device("cpu"))


def test_gpu_precision_follows_native_bf16(fresh):
    fresh.setattr(precision, "_cuda_native_bf16", lambda: True)
    assert models.precision_kwargs(torch.device("cuda")) == {"bf16": True, "fp16": False}
    assert models.model_dtype(torch.device("cuda")) == torch.bfloat16
    fresh.setattr(precision, "_cuda_native_bf16", lambda: False)
    assert models.precision_kwargs(torch.device("cuda")) == {"bf16": False, "fp16": True}


def test_the_cpu_check_is_cached_per_cpu_and_torch_version(fresh):
    name, flags = precision.cpu_flags()
    first = precision.cpu_bf16_check()
    if first["flags"] and not first["native"]:
        assert not precision._check_file().exists()  # an unconfirmed flag is measured again next time
        return
    cached = json.loads((precision._check_file()).read_text())
    assert cached["key"]["cpu"] == name and cached["key"]["torch"] == torch.__version__
    assert first["native"] == (bool(first["flags"]) and first["speedup"] >= precision.MIN_SPEEDUP)
    # a result stored for another CPU is not reused: the check runs again and overwrites it
    cached["key"]["cpu"] = "some other CPU"
    cached["result"] = {"native": "stale"}
    precision._check_file().write_text(json.dumps(cached))
    assert precision.cpu_bf16_check()["native"] in (True, False)
    # while a matching one is reused as stored
    stored = json.loads(precision._check_file().read_text())
    stored["result"]["marker"] = 1
    precision._check_file().write_text(json.dumps(stored))
    assert precision.cpu_bf16_check()["marker"] == 1


def test_a_flag_the_matmul_check_does_not_confirm_is_not_cached(fresh):
    """A busy core can make one check fail on a CPU that does bf16 natively; that must not stick."""
    fresh.setattr(precision, "cpu_flags", lambda: ("Some CPU", {"avx512_bf16", "sse2"}))
    speeds = {torch.float32: 200.0, torch.bfloat16: 60.0}
    fresh.setattr(precision, "matmul_gflops", lambda dtype=torch.float32, **kw: speeds[dtype])
    assert precision.cpu_bf16_check() == {"native": False, "flags": ["avx512_bf16"], "fp32_gflops": 200.0,
                                          "bf16_gflops": 60.0, "speedup": 0.3}
    assert not precision._check_file().exists()
    speeds[torch.bfloat16] = 800.0
    assert precision.cpu_bf16_check()["native"] is True
    assert json.loads(precision._check_file().read_text())["result"]["speedup"] == 4.0


def test_trl_configs_would_default_to_bf16_without_us(fresh):
    """The reason precision_kwargs exists: TRL turns bf16 on unless told otherwise."""
    from trl import DPOConfig

    _cpu(fresh, native=False)
    assert DPOConfig(output_dir="/tmp/x", use_cpu=True).bf16 is True
    assert DPOConfig(output_dir="/tmp/x", use_cpu=True, **models.precision_kwargs()).bf16 is False


def _native_here() -> bool:
    precision._cached_cpu_check.cache_clear()
    return precision.cpu_bf16_check()["native"]


def _problems(result: dict) -> list[str]:
    """What is wrong with a bf16-autocast agreement result, against bounds that follow from bf16 (reasoned in
    helpers/agreement.py), not from one CPU: the computation really ran in bf16; the completion tokens' log-probs
    moved, as a root-mean-square, by no more than bf16 rounding of the logits allows (u·max|z|/√3, u = 2^-8); and
    the DPO loss by no more than β·|Δ margin|, its own sensitivity to the measured log-prob changes."""
    problems = []
    if result["computed_dtype"] != "bfloat16":
        problems.append(f"computed in {result['computed_dtype']}, not bfloat16")
    if result["rms_token_diff"] > result["token_bound"]:
        problems.append(f"RMS Δ log p per token {result['rms_token_diff']:.4f} > {result['token_bound']:.4f}")
    for i, (diff, bound) in enumerate(zip(result["loss_diff"], result["loss_bound"], strict=True)):
        if diff > bound + 1e-9:
            problems.append(f"triple {i}: loss moved {diff:.4f} > β·|Δ margin| = {bound:.4f}")
    return problems


@pytest.fixture(scope="module")
def real_policy(tmp_path_factory):
    """The real model with a seeded random LoRA adapter (policy) whose disabled adapter is the reference, on a
    fixed thread count: the same weights and the same kernels' reduction order whatever ran before."""
    from helpers.bench import fresh_adapter

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    adapter = fresh_adapter(tmp_path_factory.mktemp("agreement") / "adapter", seed=0)
    policy, tokenizer = models.load_model(adapter=adapter, trainable_adapter=True)
    policy.eval()
    yield policy, tokenizer
    torch.set_num_threads(threads)


native = pytest.mark.skipif(not _native_here(), reason="this CPU has no native bf16, so the workbook never computes "
                                                       "in bf16 here (and emulated bf16 takes minutes per pass)")


@pytest.mark.slow
@native
def test_dpo_loss_and_logps_agree_between_fp32_and_bf16_autocast(real_policy):
    """On the real model, a LoRA policy against its base as reference, 3 realistic triples: bf16 autocast changes
    the token log-probs and the DPO loss by what bf16 rounding allows, and no more."""
    from helpers import agreement
    from helpers.bench import bench_rows

    policy, tokenizer = real_policy
    assert next(policy.parameters()).dtype == torch.float32
    result = agreement.autocast_agreement(policy, tokenizer, bench_rows(3), beta=0.1)
    print({k: v for k, v in result.items() if not k.startswith("logps")})  # the figures, for pytest -s
    assert result["logps_fp32"] != result["logps_low"]  # bf16 really changed something
    assert _problems(result) == []


@pytest.mark.slow
@native
@pytest.mark.parametrize("bug", ["no autocast", "fp16 instead of bf16", "rope positions in bf16"])
def test_the_agreement_check_fails_for_a_real_precision_bug(real_policy, bug):
    import contextlib

    from helpers import agreement
    from helpers.bench import bench_rows

    policy, tokenizer = real_policy
    def context():
        stack = contextlib.ExitStack()
        if bug != "no autocast":
            dtype = torch.float16 if bug.startswith("fp16") else torch.bfloat16
            stack.enter_context(torch.autocast("cpu", dtype=dtype))
        if bug == "rope positions in bf16":
            stack.enter_context(agreement.rope_positions_in(torch.bfloat16, policy))
        return stack

    result = agreement.autocast_agreement(policy, tokenizer, bench_rows(3), beta=0.1, context=context)
    print(bug, _problems(result))
    expected = {"no autocast": "computed in float32", "fp16 instead of bf16": "computed in float16",
                "rope positions in bf16": "RMS Δ log p per token"}[bug]
    assert any(expected in p for p in _problems(result)), (bug, _problems(result))
