"""What SFT and DPO share: the LoRA setup, the compact LM head, checkpoint and cache keys."""

from __future__ import annotations

import os

from helpers.cache import content_hash
from helpers.cache import last_checkpoint as last_checkpoint  # re-exported: SFT and DPO resume with it
from helpers.models import trim_heap

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def compact_lm_head(enabled: bool = True) -> None:
    """Score only the completion positions in TRL's fused LM head (SFT and DPO), on every device.

    TRL does so only where Triton is available and projects every position (prompt and padding too) elsewhere, which
    on a CPU spends the LM head on the whole prompt; the log-probs are the same (tests/test_training.py checks). The
    per-tile kernels are chosen separately and not touched. `enabled=False` restores TRL's own choice.
    """
    import trl.trainer.utils as trl_utils
    from trl.kernels.chunked_logprob import _use_triton

    trl_utils._use_triton = (lambda dev: True) if enabled else _use_triton


# compiled variants of one decoder layer a training run needs: the first layer's input needs no gradient, the
# reference pass runs without grad and with the "ref" adapter, evaluation without dropout; torch's default is 8
COMPILED_VARIANTS = 32


def base_model(model):
    """The causal LM inside a PEFT wrapper, or `model` itself."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def compile_decoder_layers(model) -> int:
    """Compile `model`'s decoder layers in place with torch.compile (regional compilation), for SFT and DPO
    training; returns how many were compiled.

    Why: on a CPU a training step is thousands of small ops; compiling fuses them (the casts, LoRA's scaling, the
    norms and activations). All layers run the same code, so one compile serves them all: tens of seconds, where
    the whole model took minutes per shape. Sequence lengths are dynamic, so a new length does not recompile. Torch
    caches the compiled code by graph (TORCHINDUCTOR_CACHE_DIR, by default under the temporary folder).
    Callers ask `compiles` first, which WORKBOOK_COMPILE=0 turns down (the test suite's tiny models, where compiling
    costs more than it saves).
    """
    import torch

    base = base_model(model)
    names = set(getattr(base, "_no_split_modules", None) or ())
    layers = [m for m in base.modules() if type(m).__name__ in names]
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, COMPILED_VARIANTS)
    # compile in this process: a pool of compile workers holds hundreds of MB beside the kernel, for little speed
    torch._inductor.config.compile_threads = 1
    for layer in layers:
        layer.compile(dynamic=True)
    return len(layers)


def compiles(requested: bool) -> bool:
    """Whether a run asking for compiled layers gets them (not where WORKBOOK_COMPILE=0): part of its cache key, since
    compiled dropout draws other masks."""
    return requested and os.environ.get("WORKBOOK_COMPILE", "1") != "0"


def store_frozen_weights(model, args) -> int:
    """Store the frozen Linear weights of a model about to train in the dtype its trainer autocasts to (`args`, the
    trainer's arguments: bf16 on a CPU that does it natively); returns how many were stored so (0 without autocast).

    Why: autocast casts each fp32 weight to bf16 at every matmul, forward and backward; stored in bf16 they are cast
    once, the same arithmetic (tests check the loss and gradients) in half the memory. The embeddings (tied to the LM
    head), norms and LoRA adapters stay fp32: the residual stream and the trained weights keep their precision.
    The fp32 weights mapped from the model file give their pages back as each copy is made (`release_file_pages`):
    the mapping lasts as long as any tensor in it, so every page the cast read would otherwise stay resident.
    """
    import torch

    dtype = torch.bfloat16 if args.bf16 else torch.float16 if args.fp16 else None
    if dtype is None:
        return 0
    base = base_model(model)
    embedding = base.get_input_embeddings().weight
    mapped = mapped_files()
    stored = 0
    for name, module in base.named_modules():
        weight = getattr(module, "weight", None)
        if (isinstance(module, torch.nn.Linear) and "lora_" not in name and weight is not embedding
                and not weight.requires_grad and weight.dtype == torch.float32):
            module.weight = torch.nn.Parameter(weight.detach().to(dtype), requires_grad=False)
            release_file_pages(weight, mapped)
            if module.bias is not None and not module.bias.requires_grad:
                module.bias = torch.nn.Parameter(module.bias.detach().to(dtype), requires_grad=False)
            stored += 1
    return stored


def mapped_files(suffix: str = ".safetensors") -> list[tuple[int, int]]:
    """Address ranges of this process's memory-mapped files whose name ends in `suffix` (none without /proc)."""
    try:
        lines = open("/proc/self/maps").read().splitlines()
    except OSError:
        return []
    return [tuple(int(x, 16) for x in line.split()[0].split("-")) for line in lines if line.endswith(suffix)]


def release_file_pages(tensor, mapped: list[tuple[int, int]]) -> bool:
    """Give back the resident pages of `tensor` where it lies in one of the `mapped` file ranges; True if it did.
    Safe for a tensor still in use: a private file mapping reads a dropped, unmodified page again from the file."""
    import ctypes
    import mmap

    start = tensor.data_ptr()
    end = start + tensor.nbytes
    if not any(a <= start and end <= b for a, b in mapped):
        return False
    first, last = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE, end // mmap.PAGESIZE * mmap.PAGESIZE
    if last > first:
        ctypes.CDLL(None).madvise(ctypes.c_void_p(first), ctypes.c_size_t(last - first), 4)  # MADV_DONTNEED
    return True


def compute_dtype_context(model):
    """Autocast to the dtype of `model`'s stored frozen weights where they are lower than its embeddings' (after
    `store_frozen_weights`), else nothing: code that runs the training model outside the trainer (the KL monitor)
    then computes as training does, instead of meeting bf16 weights with fp32 inputs."""
    import contextlib

    import torch

    base = base_model(model)
    embedding = base.get_input_embeddings().weight
    lower = next((p.dtype for p in base.parameters() if p.itemsize < embedding.itemsize), None)
    if lower is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=embedding.device.type, dtype=lower)


def eager():
    """Context manager: compiled layers run eagerly inside (sampling with a KV cache, which training never does,
    would otherwise compile new variants for a few calls)."""
    import torch

    return torch.compiler.set_stance("force_eager")


def lora_config(r: int = 16, alpha: int = 32, dropout: float = 0.05):
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=LORA_TARGETS, task_type="CAUSAL_LM")


def config_hash(config: dict) -> str:
    """The folder name of a cached SFT adapter or DPO run: 10 hex digits of its settings' content hash."""
    return content_hash(config, n=10)


def library_versions() -> dict:
    import importlib.metadata as md

    names = ["torch", "transformers", "trl", "peft", "datasets", "accelerate", "anthropic"]
    return {n: md.version(n) for n in names}


def release_memory_callback():
    """A TrainerCallback that trims the C heap after every optimizer step and evaluation (models.trim_heap): micro-
    batches of varying length fragment the allocator's freed pages, and resident memory creeps up step after step."""
    from transformers import TrainerCallback

    class ReleaseMemory(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            trim_heap()

        def on_evaluate(self, args, state, control, **kwargs):
            trim_heap()

    return ReleaseMemory()


def data_line(counts: dict, what: str = "pairs") -> str:
    """One line saying what a trainer kept of the data it was given: {"train": counts, "validation": counts}, each
    {"given", "kept", "dropped_too_long", "truncated", "max_length"} as `dpo.length_counts` or `sft` count them."""
    parts = []
    for split, c in counts.items():
        if not c or not c.get("given"):
            continue
        name = "training" if split == "train" else split
        text = f"{c['kept']} of {c['given']} {name} {what} kept"
        if c.get("dropped_too_long"):
            text += (f" ({c['dropped_too_long']} dropped: the prompt alone fills max_length={c['max_length']} tokens"
                     + (f"; the longest is {c['longest']} tokens" if c.get("longest") else "") + ")")
        if c.get("truncated"):
            text += f", {c['truncated']} cut at max_length={c['max_length']}"
        parts.append(text)
    return "; ".join(parts)
