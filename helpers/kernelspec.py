"""The notebook kernels' memory settings, written into the installed kernel spec's environment: jemalloc as the
allocator, and bounded oneDNN caches.

Jupyter starts every kernel of a spec, JupyterLab's and papermill's alike, with the "env" of its kernel.json, so
`make setup` writes the allocator there once, after `ipykernel install`. Why: most of a training kernel's resident
memory is what glibc's malloc keeps of freed tensors, not what the tensors need (docs/memory.md has the
measurements). Where libjemalloc is missing (not Linux, package not installed), the kernels keep glibc's malloc
with settings that hand freed memory back sooner, and one printed line says so. oneDNN (torch's CPU matmul
library) keeps one compiled kernel per matmul shape, by default up to 1,024 of them, and every batch of a new
length brings new shapes: over a training run that cache held hundreds of MB; 256 keep it small for a few
percent of speed (docs/memory.md).

    python -m helpers.kernelspec            # what `make setup` runs: the dpo-workbook kernel's kernel.json
    python -m helpers.kernelspec --found    # exit status 0 when libjemalloc is there (the Makefile asks first)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import sysconfig
from pathlib import Path

KERNEL = "dpo-workbook"
LIBRARY = "libjemalloc.so.2"  # Debian's libjemalloc2
PACKAGE = "libjemalloc2"
# return freed pages to the OS within a second, from a background thread, instead of keeping them for reuse
JEMALLOC_CONF = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0"
# glibc without jemalloc: two arenas instead of one per thread, and large blocks mapped and unmapped on their own
GLIBC_ENV = {"MALLOC_ARENA_MAX": "2", "MALLOC_TRIM_THRESHOLD_": str(64 * 2 ** 20),
             "MALLOC_MMAP_THRESHOLD_": str(64 * 2 ** 10)}
# oneDNN's primitive cache and torch's cache of oneDNN weights, in entries: fewer made a 3-epoch SFT slower
ONEDNN_ENV = {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "256", "LRU_CACHE_CAPACITY": "64"}
MANAGED = ("LD_PRELOAD", "MALLOC_CONF", *GLIBC_ENV, *ONEDNN_ENV)  # the env keys this module owns in kernel.json


def library_dirs() -> list[Path]:
    """Where the dynamic linker finds shared libraries on Debian-like and other Linux systems."""
    triplet = sysconfig.get_config_var("MULTIARCH") or f"{platform.machine()}-linux-gnu"
    return [Path(p) for p in (f"/usr/lib/{triplet}", f"/lib/{triplet}", "/usr/lib64", "/usr/lib", "/usr/local/lib")]


def preload_works(library: Path) -> bool:
    """Whether a Python started with `library` preloaded runs cleanly (a wrong architecture or a broken file makes
    the dynamic linker complain at every kernel start instead)."""
    run = subprocess.run([sys.executable, "-c", "pass"], env={**os.environ, "LD_PRELOAD": str(library)},
                         capture_output=True, text=True)
    return run.returncode == 0 and "preload" not in run.stderr.lower()


def find_allocator(dirs: list[Path] | None = None) -> Path | None:
    """The jemalloc library file for the kernels, or None: not Linux, not installed, or not loadable."""
    if not sys.platform.startswith("linux"):
        return None
    for folder in dirs if dirs is not None else library_dirs():
        path = Path(folder) / LIBRARY
        if path.is_file() and preload_works(path):
            return path
    return None


def kernel_env(allocator: Path | None) -> dict[str, str]:
    """The kernel's memory settings: jemalloc preloaded with `JEMALLOC_CONF`, else glibc's `GLIBC_ENV`; both with
    the bounded oneDNN caches of `ONEDNN_ENV`."""
    if allocator is None:
        return {**GLIBC_ENV, **ONEDNN_ENV}
    return {"LD_PRELOAD": str(allocator), "MALLOC_CONF": JEMALLOC_CONF, **ONEDNN_ENV}


def kernel_json(kernel: str = KERNEL) -> Path:
    """The installed kernel.json of `kernel`, as Jupyter finds it (ipykernel install --sys-prefix puts it in .venv)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        return Path(KernelSpecManager().get_kernel_spec(kernel).resource_dir) / "kernel.json"
    except NoSuchKernel:
        raise RuntimeError(f"Jupyter kernel {kernel!r} is not installed: `make setup` installs it "
                           f"(python -m ipykernel install --sys-prefix --name {kernel})") from None


def write_env(path: str | Path, env: dict[str, str]) -> dict:
    """Set `env` in the kernel spec at `path`: this module's earlier keys (`MANAGED`) are replaced, any others kept.
    Returns the spec as written; a missing or unreadable kernel.json is a ValueError naming the file."""
    path = Path(path)
    try:
        spec = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read the kernel spec ({err}); reinstall it with `make setup`") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("argv"), list):
        raise ValueError(f"{path}: not a Jupyter kernel spec (no argv list); reinstall it with `make setup`")
    kept = {k: v for k, v in (spec.get("env") or {}).items() if k not in MANAGED}
    spec["env"] = {**kept, **env}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(spec, indent=1) + "\n")
    os.replace(tmp, path)  # a kill mid-write leaves the old spec, never half of one
    return spec


def install(kernel: str = KERNEL, path: str | Path | None = None, dirs: list[Path] | None = None) -> Path | None:
    """Write the memory settings into `kernel`'s kernel.json (or the one at `path`), print one line saying which;
    returns the jemalloc library used, or None for glibc."""
    path = Path(path) if path else kernel_json(kernel)
    allocator = find_allocator(dirs)
    env = kernel_env(allocator)
    write_env(path, env)
    if allocator is not None:
        print(f"kernel {kernel}: jemalloc ({allocator}) as its memory allocator, oneDNN caches bounded, in {path}")
    else:
        settings = " ".join(f"{k}={v}" for k, v in env.items())
        print(f"kernel {kernel}: {LIBRARY} not found (Debian: apt-get install {PACKAGE}), so glibc's malloc with "
              f"{settings}; written to {path}")
    return allocator


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", default=KERNEL, help="the installed kernel spec to write (default %(default)s)")
    parser.add_argument("--kernel-json", default="", help="a kernel.json file to write instead of the installed one")
    parser.add_argument("--found", action="store_true", help="only say, by the exit status, whether jemalloc is here")
    args = parser.parse_args(argv)
    if args.found:
        return 0 if find_allocator() is not None else 1
    try:
        install(args.kernel, args.kernel_json or None)
    except (RuntimeError, ValueError) as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
