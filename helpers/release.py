"""Push v0.X: pack a run's DPO adapter into releases/<version>/ with a Hugging Face model card, the run card, the
3-way tables and the learner's reflection, ready for `git tag` or a hub upload.

A release folder is made whole or not at all (built beside it, then renamed into place). Packing the same run again
is a no-op; a folder of that version with other content is never overwritten (ReleaseExists, one line).
"""

from __future__ import annotations

import filecmp
import json
import re
import shutil
import tempfile
from pathlib import Path

from helpers.adapters import read_adapter
from helpers.evaluation.runs import run_card
from helpers.models import DEFAULT_MODEL, model_identity

DEFAULT_MODEL_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
DEFAULT_DATASETS = ("incident-triage-preferences",)  # the workbook's own pairs (local); a hub id once you push them
TAGS = ("dpo", "trl", "peft", "lora", "incident-triage")
# run-folder files copied as they are, when present
RUN_FILES = ("run_card.json", "run_card.md", "three_way_table.md", "three_way_table.csv",
             "three_way_table_unseen.md", "three_way_table_unseen.csv", "transfer_gap.csv", "summary.md")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ReleaseExists(FileExistsError):
    """A release folder of this version already holds other content."""


def _check_version(version) -> str:
    if not isinstance(version, str) or not _VERSION.match(version):
        raise ValueError(f"release version {version!r}: use letters, digits, '.', '_' or '-' (e.g. 'v0.2'), "
                         "as Session B's version_tag")
    return version


def _hub_base_model(name: str) -> str:
    return DEFAULT_MODEL_HUB_ID if model_identity(name) == DEFAULT_MODEL else name


def _yaml_list(key: str, values) -> list[str]:
    return [f"{key}:"] + [f"- {json.dumps(v)}" for v in values]


def model_card(version: str, base_model: str, card: dict | None, table_md: str | None, has_reflection: bool,
               datasets=DEFAULT_DATASETS) -> str:
    """The Hugging Face model card (README.md): YAML front matter, then what the adapter is and its 3-way table."""
    hub_base = _hub_base_model(base_model)
    front = ["---", f"base_model: {json.dumps(hub_base)}", "library_name: peft", "pipeline_tag: text-generation",
             *(["license: apache-2.0"] if hub_base == DEFAULT_MODEL_HUB_ID else []),
             *_yaml_list("tags", TAGS), *_yaml_list("datasets", datasets), "---", ""]
    data = (card or {}).get("preference_data", {})
    config = (card or {}).get("config", {})
    body = [f"# Incident-triage DPO adapter {version}", "",
            f"A LoRA adapter for `{hub_base}`: a week-2 SFT model DPO-trained on preference pairs for production "
            "incident triage. It answers an incident report with one JSON object: "
            '`{"severity": "SEV1".."SEV4", "component": "...", "summary": "..."}`.', "",
            "## Training", "",
            f"- preference pairs: {data.get('triples_train', '?')} for training, "
            f"{data.get('triples_validation', '?')} for validation, built by the `{data.get('judge', '?')}` judge "
            f"({data.get('pair_strategy', '?')})",
            f"- beta {config.get('beta', '?')}, learning rate {config.get('learning_rate', '?')}, "
            f"epochs {config.get('epochs', '?')}",
            "- the full record: `run_card.md` and `run_card.json`" if card else "- no run card was recorded", "",
            "## Evaluation: base vs SFT vs SFT+DPO", "",
            table_md.strip() if table_md else "No 3-way table was recorded.", "",
            "Each cell is a mean with its 95% bootstrap interval; `three_way_table*.md` and `summary.md` have the "
            "held-out groups.", "",
            "## Reflection", "",
            "`reflection.md`: what DPO did to this model, and what it didn't." if has_reflection
            else "Not written yet: no `reflection.md` in the run folder.", "",
            "## Use", "", "```python", "from peft import AutoPeftModelForCausalLM",
            "model = AutoPeftModelForCausalLM.from_pretrained(\"path/to/this/folder/adapter\")", "```", ""]
    return "\n".join(front + body)


def _same_tree(a: Path, b: Path) -> str | None:
    """None when the two folders hold the same files with the same bytes; else the first difference, named."""
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    if files_a != files_b:
        return f"{sorted(map(str, files_a ^ files_b))[0]} is in one of them only"
    for rel in sorted(files_a):
        if not filecmp.cmp(a / rel, b / rel, shallow=False):
            return f"{rel} differs"
    return None


def pack(run_dir: str | Path, version: str, releases_dir: str | Path, adapter_dir: str | Path | None = None,
         base_model: str | None = None, datasets=DEFAULT_DATASETS) -> Path:
    """Make `releases_dir/<version>/`: the DPO adapter (copied into adapter/), a Hugging Face model card README.md,
    the run card, the 3-way tables and the learner's reflection.md (if written). `adapter_dir` defaults to the run
    folder's dpo_adapter/, `base_model` to the run card's. Returns the folder. The same content packed again returns
    it unchanged; other content under that version raises ReleaseExists (one line)."""
    run_dir, releases_dir = Path(run_dir), Path(releases_dir)
    version = _check_version(version)
    adapter = read_adapter(adapter_dir or run_dir / "dpo_adapter").folder  # missing or broken: one line
    card = run_card(run_dir)
    base_model = base_model or (card or {}).get("base_model") or DEFAULT_MODEL
    target = releases_dir / version
    releases_dir.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=releases_dir))
    try:
        shutil.copytree(adapter, build / "adapter")
        for name in RUN_FILES:
            if (run_dir / name).is_file():
                shutil.copy2(run_dir / name, build / name)
        reflection = run_dir / "reflection.md"
        if reflection.is_file():
            shutil.copy2(reflection, build / "reflection.md")
        table = run_dir / "three_way_table.md"
        (build / "README.md").write_text(model_card(version, base_model, card,
                                                    table.read_text() if table.is_file() else None,
                                                    reflection.is_file(), datasets))
        if target.exists():
            difference = _same_tree(build, target)
            if difference is not None:
                raise ReleaseExists(f"{target} already holds another release ({difference}): set a new version_tag "
                                    "in Session B, or delete that folder to pack this run under the same version")
            return target  # the same run packed again
        build.rename(target)
        return target
    finally:
        shutil.rmtree(build, ignore_errors=True)


def next_steps(release_dir: str | Path, version: str) -> list[str]:
    """What to do with a release folder: tag it in git, or upload it to the Hugging Face hub when online."""
    release_dir = Path(release_dir)
    return [f"release {version}: {release_dir} ({', '.join(sorted(p.name for p in release_dir.iterdir()))})",
            f"  tag it:    git tag -a {version} -m \"DPO adapter {version}\" && git push origin {version}",
            f"  hub (online, after `huggingface-cli login`): huggingface-cli upload <you>/<repo> {release_dir} .",
            f"  or in Python: HfApi().upload_folder(repo_id=\"<you>/<repo>\", folder_path=\"{release_dir}\")"]


def release_run(run_dir: str | Path, releases_dir: str | Path, adapter_dir: str | Path | None = None,
                version: str | None = None) -> Path | None:
    """Session C's release step: pack the run under the version of Session B's run card (version_tag), print what
    is in it and what to do next. Prints one line instead, and returns None, when there is no run card to take the
    version from or that version is already released with other content."""
    card = run_card(run_dir)
    version = version or (card or {}).get("version")
    if not version:
        print(f"nothing packed: no run card with a version in {Path(run_dir)} (Session B writes it, with version_tag)")
        return None
    try:
        folder = pack(run_dir, version, releases_dir, adapter_dir)
    except ReleaseExists as err:
        print(f"nothing packed: {err}")
        return None
    print("\n".join(next_steps(folder, version)))
    if not (folder / "reflection.md").exists():
        print(f"  no reflection.md in it yet: write yours in {Path(run_dir)}, delete {folder} and run this again")
    return folder
