"""The notebook kernels' allocator (helpers/kernelspec.py): written into a kernel.json, on a temporary one here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import kernelspec
from helpers.kernelspec import (
    GLIBC_ENV,
    JEMALLOC_CONF,
    LIBRARY,
    ONEDNN_ENV,
    find_allocator,
    install,
    kernel_env,
    write_env,
)

SPEC = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "DPO workbook (.venv)", "language": "python", "metadata": {"debugger": True}}


@pytest.fixture
def spec_file(tmp_path) -> Path:
    path = tmp_path / "kernel.json"
    path.write_text(json.dumps(SPEC, indent=1))
    return path


def test_jemalloc_env_is_written_and_the_rest_of_the_spec_kept(spec_file):
    written = write_env(spec_file, kernel_env(Path("/usr/lib/x86_64-linux-gnu") / LIBRARY))
    on_disk = json.loads(spec_file.read_text())
    assert on_disk == written
    assert on_disk["env"] == {"LD_PRELOAD": f"/usr/lib/x86_64-linux-gnu/{LIBRARY}", "MALLOC_CONF": JEMALLOC_CONF,
                              "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "256", "LRU_CACHE_CAPACITY": "64"}
    assert {k: v for k, v in on_disk.items() if k != "env"} == SPEC
    assert not list(spec_file.parent.glob("*.tmp"))


def test_a_rewrite_replaces_the_modules_keys_and_keeps_the_learners(spec_file):
    write_env(spec_file, kernel_env(Path("/x") / LIBRARY))
    spec = json.loads(spec_file.read_text())
    spec["env"]["MY_SETTING"] = "1"  # a learner's own variable
    spec_file.write_text(json.dumps(spec))
    write_env(spec_file, kernel_env(None))  # jemalloc gone: glibc's settings, no stale LD_PRELOAD
    assert json.loads(spec_file.read_text())["env"] == {"MY_SETTING": "1", **GLIBC_ENV, **ONEDNN_ENV}


@pytest.mark.parametrize("text, why", [(None, "cannot read"), ("{not json", "cannot read"),
                                       ('{"display_name": "x"}', "no argv")])
def test_a_bad_kernel_json_is_one_line_naming_it(tmp_path, text, why):
    path = tmp_path / "kernel.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ValueError, match=why) as err:
        write_env(path, kernel_env(None))
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_the_library_is_found_in_the_given_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(kernelspec, "preload_works", lambda path: True)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / LIBRARY).write_bytes(b"")
    assert find_allocator([tmp_path / "a", tmp_path / "b"]) == (tmp_path / "b" / LIBRARY
                                                              if sys.platform.startswith("linux") else None)
    assert find_allocator([tmp_path / "a"]) is None


def test_a_library_that_does_not_load_is_not_used(tmp_path):
    (tmp_path / LIBRARY).write_bytes(b"not an ELF file")
    assert find_allocator([tmp_path]) is None


def test_install_falls_back_to_glibc_with_one_line(spec_file, tmp_path, capsys):
    assert install(path=spec_file, dirs=[tmp_path / "nothing here"]) is None
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1 and f"{LIBRARY} not found" in out and "MALLOC_ARENA_MAX=2" in out
    assert json.loads(spec_file.read_text())["env"] == {**GLIBC_ENV, **ONEDNN_ENV}


def test_main_writes_the_given_kernel_json(spec_file, capsys):
    assert kernelspec.main(["--kernel-json", str(spec_file)]) == 0
    assert "kernel dpo-workbook:" in capsys.readouterr().out
    assert set(json.loads(spec_file.read_text())["env"]) in ({"LD_PRELOAD", "MALLOC_CONF", *ONEDNN_ENV},
                                                             {*GLIBC_ENV, *ONEDNN_ENV})
    assert kernelspec.main(["--kernel-json", str(spec_file.with_name("missing.json"))]) == 1
    assert "missing.json" in capsys.readouterr().err


@pytest.mark.skipif(find_allocator() is None, reason=f"{LIBRARY} is not installed here (make setup installs it)")
def test_a_process_started_with_the_env_runs_on_jemalloc():
    env = kernel_env(find_allocator())
    code = "print(any('jemalloc' in line for line in open('/proc/self/maps')))"
    run = subprocess.run([sys.executable, "-c", code], env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True,
                         text=True, check=True)
    assert run.stdout.strip() == "True" and run.stderr == ""
