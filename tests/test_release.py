import json
import shutil

import pytest
import torch
import yaml

from helpers import release

from .conftest import fake_adapter_dir


def fake_run(run_dir, adapter, reflection=True):
    """A run folder as Sessions B and C leave it: the adapter, the run card, the 3-way table, the reflection."""
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(adapter, run_dir / "dpo_adapter")
    card = {"version": "v0.3", "base_model": "smollm2-135m-instruct",
            "config": {"beta": 0.1, "learning_rate": 3e-4, "epochs": 2.0},
            "preference_data": {"judge": "rubric", "pair_strategy": "severity_contrast", "triples_train": 9,
                                "triples_validation": 1}}
    (run_dir / "run_card.json").write_text(json.dumps(card))
    (run_dir / "run_card.md").write_text("# DPO run card v0.3\n")
    (run_dir / "three_way_table.md").write_text("| Metric | Base | SFT | SFT+DPO |\n|---|---|---|---|\n")
    if reflection:
        (run_dir / "reflection.md").write_text("What DPO did to my model.\n")
    return run_dir


def front_matter(text):
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_a_release_loads_with_peft_and_its_card_parses(tiny_sft, tmp_path, capsys):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base, adapter = tiny_sft
    run_dir = fake_run(tmp_path / "run", adapter)
    folder = release.release_run(run_dir, tmp_path / "releases")
    assert folder == tmp_path / "releases" / "v0.3"  # the version of Session B's run card
    out = capsys.readouterr().out
    assert "git tag -a v0.3" in out and "huggingface-cli upload" in out and "upload_folder" in out
    for name in ("README.md", "run_card.json", "run_card.md", "three_way_table.md", "reflection.md",
                 "adapter/adapter_config.json"):
        assert (folder / name).is_file(), name
    meta = front_matter((folder / "README.md").read_text())
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and meta["library_name"] == "peft"
    assert "dpo" in meta["tags"] and meta["datasets"] == list(release.DEFAULT_DATASETS)
    assert "| Metric | Base | SFT | SFT+DPO |" in (folder / "README.md").read_text()

    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), folder / "adapter")
    original = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter)
    ids = torch.tensor([[1, 2, 3, 4]])
    assert torch.equal(loaded(ids).logits, original(ids).logits)


def test_packing_again_is_fine_other_content_is_refused(tmp_path, capsys):
    adapter = fake_adapter_dir(tmp_path / "adapter")
    run_dir = fake_run(tmp_path / "run", adapter, reflection=False)
    first = release.pack(run_dir, "v0.3", tmp_path / "releases")
    assert "Not written yet" in (first / "README.md").read_text() and not (first / "reflection.md").exists()
    assert release.pack(run_dir, "v0.3", tmp_path / "releases") == first  # the same run: fine
    (run_dir / "reflection.md").write_text("mine")
    with pytest.raises(release.ReleaseExists, match=r"v0.3 already holds another release \(reflection.md is in one"):
        release.pack(run_dir, "v0.3", tmp_path / "releases")
    assert not (first / "reflection.md").exists()  # left as it was
    assert sorted(p.name for p in (tmp_path / "releases").iterdir()) == ["v0.3"]  # no half-built folder left
    assert release.release_run(run_dir, tmp_path / "releases") is None
    assert capsys.readouterr().out.startswith("nothing packed: ")
    with pytest.raises(ValueError, match="release version '../x'"):
        release.pack(run_dir, "../x", tmp_path / "releases")


def test_no_run_card_packs_nothing(tmp_path, capsys):
    assert release.release_run(tmp_path, tmp_path / "releases") is None
    assert "no run card with a version" in capsys.readouterr().out
