"""Is this folder a PEFT adapter, and does it fit the loaded model? One check, one line naming what is wrong.

Every place that takes an adapter folder (loading, SFT and DPO, Session C, the training CLI) calls `read_adapter`,
so a missing, empty or torn adapter reads the same everywhere, before any model loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


class ModelNotFoundError(FileNotFoundError):
    """A model or adapter that could not be found; the message lists what was tried and what to do."""


class AdapterError(ValueError):
    """A PEFT adapter folder that cannot go onto the loaded model; the one-line message names the folder (absolute)
    and what is wrong: its config file, its missing weights, or the adapter's base model and the loaded one."""


ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


@dataclass
class AdapterFiles:
    """An adapter folder that passed the file checks: its absolute path, its parsed config and its weights file."""

    folder: Path
    config: dict
    weights: Path

    @property
    def base_model(self) -> str:
        """The base model the adapter was trained on, as PEFT recorded it (not recorded for a model built from a
        config rather than loaded from a folder or the hub)."""
        return str(self.config.get("base_model_name_or_path") or "(not recorded)")

    def mismatch_prefix(self, loaded: str) -> str:
        return (f"adapter {self.folder} does not fit the loaded model: it was trained on base model {self.base_model} "
                f"(base_model_name_or_path in adapter_config.json), the loaded model is {loaded}")


def read_adapter(adapter: str | Path) -> AdapterFiles:
    """Check an adapter folder's files before anything loads: one line naming the folder or file and the fault.

    PEFT's own errors for these were `KeyError: 'peft_type'` (an empty config) and `HFValidationError: Repo id
    must be a string, not PosixPath` (no weights: it then tries the folder name as a hub id)."""
    folder = Path(adapter).expanduser().resolve()
    config_path = folder / "adapter_config.json"
    if not config_path.is_file():
        raise ModelNotFoundError(f"no PEFT adapter at {folder} (expected {config_path}); "
                                 "train one first or fix the path")
    config = _read_adapter_config(config_path)
    weights = next((folder / name for name in ADAPTER_WEIGHTS if (folder / name).is_file()), None)
    if weights is None:
        raise AdapterError(f"no adapter weights (adapter_model.safetensors/.bin) in {folder}; the save was "
                           "interrupted or the files were not copied: retrain or copy the whole folder")
    return AdapterFiles(folder, config, weights)


def _read_adapter_config(path: Path) -> dict:
    from peft import PeftType

    text = path.read_bytes().decode("utf-8", errors="replace")
    if not text.strip():
        raise AdapterError(f"{path}: empty file; expected PEFT's adapter config (JSON with peft_type, r, ...): "
                           "re-save the adapter with save_pretrained()")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise AdapterError(f"{path}:{err.lineno}: not valid JSON (column {err.colno}: {err.msg})") from None
    if not isinstance(config, dict):
        raise AdapterError(f"{path}: expected a JSON object, got {type(config).__name__}")
    if "peft_type" not in config:
        raise AdapterError(f"{path}: no 'peft_type' (not a PEFT adapter config); re-save the adapter with "
                           "save_pretrained()")
    if config["peft_type"] not in {t.value for t in PeftType}:
        raise AdapterError(f"{path}: unknown peft_type {config['peft_type']!r} (not a method this PEFT knows)")
    return config


def _adapter_shapes(weights: Path) -> dict[str, tuple[int, ...]]:
    """Each tensor's shape in an adapter weights file, read from the header (no tensor is loaded)."""
    try:
        if weights.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(weights), framework="pt") as f:
                return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        import torch

        state = torch.load(weights, map_location="meta", weights_only=True)
        return {k: tuple(v.shape) for k, v in state.items()}
    except Exception as err:  # SafetensorError, UnpicklingError, EOFError ... for a truncated or foreign file
        message = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise AdapterError(f"{weights}: unreadable adapter weights ({type(err).__name__}: {message})") from None


def _shape_problem(key: str, shape: tuple[int, ...], modules: dict, params: dict) -> str | None:
    """Why one adapter tensor cannot go onto the model, or None. LoRA's A is [r, in], its B [out, r]."""
    name = key.removeprefix("base_model.model.")
    for part, axis, feature in ((".lora_A.", 1, "in_features"), (".lora_B.", 0, "out_features")):
        if part in name:
            module_name = name.split(part)[0]
            module = modules.get(module_name)
            if module is None:
                return f"module {module_name} is not in the loaded model"
            expected = getattr(module, feature, None)
            if isinstance(expected, int) and len(shape) == 2 and shape[axis] != expected:
                return (f"{module_name}{part.rstrip('.')} is {list(shape)} in the adapter, the loaded model's "
                        f"{module_name}.{feature} is {expected}")
            return None
    if name in params and tuple(params[name].shape) != shape:  # modules_to_save: a full copy of a model tensor
        return f"{name} is {list(shape)} in the adapter, {list(params[name].shape)} in the loaded model"
    return None


def check_adapter_fits(files: AdapterFiles, model, loaded: str) -> None:
    """Compare the adapter's tensor shapes with the loaded model's modules: an adapter trained for another base
    model is one AdapterError line naming both models and the first mismatching tensor, not a wall of
    `size mismatch` lines from load_state_dict."""
    modules = dict(model.named_modules())
    params = dict(model.named_parameters())
    for key, shape in _adapter_shapes(files.weights).items():
        problem = _shape_problem(key, shape, modules, params)
        if problem:
            raise AdapterError(f"{files.mismatch_prefix(loaded)} ({problem})")


def check_adapter_base(files: AdapterFiles, loaded: str, is_loaded_model) -> None:
    """Compare the base model the adapter records (base_model_name_or_path) with the loaded one, by name:
    `is_loaded_model(recorded)` says whether a recorded name or path is the loaded model (models.same_model, which
    counts the default model's folder, hub id and names as one). Another base model with the same shapes (SmolLM2-135M
    and SmolLM2-135M-Instruct) passes the shape check and would load without a word: one AdapterError line naming
    both. An adapter that records no base (built from a config) passes."""
    recorded = files.config.get("base_model_name_or_path")
    if not recorded or is_loaded_model(str(recorded)):
        return
    raise AdapterError(f"{files.mismatch_prefix(loaded)}: another model, even though the tensor shapes agree; load "
                       f"the adapter onto {recorded}, or retrain it on {loaded}")
