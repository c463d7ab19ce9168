"""The notebooks' parameters and what sets them, checked before a run: the profiles (notebooks/profiles.yaml) for the
runner, and the learner's untracked notebooks/local.yaml for a short pass in Lab (same shape, so one check).

Every profile parameter is checked against the notebook's `parameters` cell: papermill only warns on unknown
names, so a typo would silently run the full-size notebook.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import yaml

from helpers.paths import NOTEBOOK_DIR, REPO_ROOT

PROFILES_FILE = NOTEBOOK_DIR / "profiles.yaml"
LOCAL_FILE = NOTEBOOK_DIR / "local.yaml"  # the learner's untracked settings for Lab (git-ignored)
NOTEBOOKS = ("01_dpo_math", "02_preferences_and_dpo", "03_three_way_eval")
INJECTED = ("run_dir", "profile")  # set by the runner for every notebook
# what the runner sets where a notebook has it, unless the learner says otherwise: papermill checks the reference
# answers of the exercises (`-p exercises learner` checks the answers saved in the notebooks)
RUNNER_DEFAULTS = {"exercises": "reference"}


def notebook_path(name: str) -> Path:
    return NOTEBOOK_DIR / f"{name}.ipynb"


def notebook_parameters(path: str | Path) -> dict:
    """Names and default values assigned in the notebook's cell tagged `parameters`."""
    nb = json.loads(Path(path).read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{path}: expected exactly one cell tagged 'parameters', found {len(cells)}")
    source = "".join(cells[0]["source"])
    params = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    params[target.id] = ast.literal_eval(node.value)
    return params


def _shown(path: Path) -> str:
    """A path as a message names it: from the repository root when it is inside it."""
    path = Path(path)
    return str(path.relative_to(REPO_ROOT)) if path.is_absolute() and path.is_relative_to(REPO_ROOT) else str(path)


def _read_yaml(path: Path):
    """A YAML file's content. A YAML error is one ValueError line naming the file, the line and column and the
    parser's problem, not the parser's 70-line trace."""
    try:
        return yaml.safe_load(path.read_text())
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{_shown(path)}:{mark.line + 1}:{mark.column + 1}" if mark else _shown(path)
        context = err.context or ""
        if context and err.context_mark and err.problem_mark:
            context += f" that starts at line {err.context_mark.line + 1}"
        problem = " ".join(f"{err.problem or 'invalid YAML'}{f' ({context})' if context else ''}".split())
        raise ValueError(f"{where}: {problem}") from None
    except yaml.YAMLError as err:
        raise ValueError(f"{_shown(path)}: {' '.join(str(err).split())}") from None


def _check_shape(path: Path, label: str, per_notebook) -> None:
    """A profile (or local.yaml's overrides) is a mapping notebook -> mapping name -> value; else one line."""
    if not isinstance(per_notebook, dict | None):
        raise ValueError(f"{_shown(path)}: {label} must be a mapping of notebook -> parameters, "
                         f"got {' '.join(repr(per_notebook).split())[:60]}")
    for notebook, params in (per_notebook or {}).items():
        if not isinstance(params, dict | None):
            raise ValueError(f"{_shown(path)}: {label}, notebook {notebook}: the parameters must be "
                             f"a mapping of name -> value, got {' '.join(repr(params).split())[:60]}")


def load_profiles(path: Path | None = None) -> dict:
    """notebooks/profiles.yaml (or `path`): profile -> notebook -> parameters, its shape checked (one line)."""
    path = PROFILES_FILE if path is None else Path(path)
    profiles = _read_yaml(path)
    if not isinstance(profiles, dict):
        raise ValueError(f"{_shown(path)}: expected a mapping of profile -> notebook -> parameters")
    for profile, per_notebook in profiles.items():
        _check_shape(path, f"profile {profile!r}", per_notebook)
    return profiles


def notebook_problems(where: str, per_notebook: dict | None, reserved: dict[str, str]) -> list[str]:
    """Every entry of one profile (or of local.yaml) that names a notebook or a parameter that does not exist, or a
    `reserved` name (name -> why it cannot be set here); [] when all is well."""
    problems = []
    for notebook, params in (per_notebook or {}).items():
        if notebook not in NOTEBOOKS:
            problems.append(f"{where}: unknown notebook {notebook!r} (known: {', '.join(NOTEBOOKS)})")
            continue
        defined = notebook_parameters(notebook_path(notebook))
        for name in params or {}:
            if name in reserved:
                problems.append(f"{where}, notebook {notebook}: {name!r} {reserved[name]}")
            elif name not in defined:
                problems.append(f"{where}, notebook {notebook}: parameter {name!r} is not defined "
                                "in the notebook's parameters cell")
    return problems


def profile_problems(profiles: dict | None = None) -> list[str]:
    """Every profile entry that names a notebook or a parameter that does not exist; [] when all is well."""
    profiles = load_profiles() if profiles is None else profiles
    reserved = {name: "is set by the runner" for name in INJECTED}
    return [problem for profile, per_notebook in profiles.items()
            for problem in notebook_problems(f"profile {profile!r}", per_notebook, reserved)]


def parameters_for(profile: str, notebook: str, run_dir: Path, profiles: dict | None = None,
                   overrides: dict | None = None) -> dict:
    """The profile's parameters for one notebook, then the learner's `overrides` (-p) that the notebook defines, on
    top of RUNNER_DEFAULTS, and run_dir and profile (INJECTED)."""
    profiles = load_profiles() if profiles is None else profiles
    if profile not in profiles:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(profiles)} (notebooks/profiles.yaml)")
    defined = notebook_parameters(notebook_path(notebook))
    defaults = {k: v for k, v in RUNNER_DEFAULTS.items() if k in defined}
    mine = {k: v for k, v in (overrides or {}).items() if k in defined}
    return {**defaults, **(profiles[profile].get(notebook) or {}), **mine, "run_dir": str(run_dir), "profile": profile}


# ----------------------------------------------------------------------------- a short pass in Lab: local.yaml


def load_local(path: Path | None = None, profiles: dict | None = None) -> dict | None:
    """notebooks/local.yaml (or `path`), the learner's untracked settings for Lab, or None when there is none:
    `profile: <name>` (a profile of profiles.yaml) and/or notebook -> parameters, as in a profile. Checked like the
    profiles: a problem is one ValueError line naming the file and the key."""
    path = LOCAL_FILE if path is None else Path(path)
    if not path.exists():
        return None
    local = _read_yaml(path)
    if local is None:
        return {}
    if not isinstance(local, dict):
        raise ValueError(f"{_shown(path)}: expected a mapping, e.g. `profile: quick` and/or "
                         f"`02_preferences_and_dpo: {{max_steps: 4}}`")
    overrides = {k: v for k, v in local.items() if k != "profile"}
    _check_shape(path, "your overrides", overrides)
    problems = []
    if "profile" in local:
        profiles = load_profiles() if profiles is None else profiles
        if not isinstance(local["profile"], str) or local["profile"] not in profiles:
            problems.append(f"profile: {local['profile']!r} is not a profile of notebooks/profiles.yaml "
                            f"(choose one of {', '.join(profiles)})")
    problems += notebook_problems("your overrides", overrides,
                                  {"profile": "goes at the top of the file, as `profile: quick`"})
    if problems:
        raise ValueError(f"{_shown(path)}: " + "; ".join(problems))
    return local


def _shown_values(values: dict) -> str:
    return ", ".join(f"{k}={' '.join(repr(v).split())}" for k, v in values.items()) or "nothing for this notebook"


def local_parameters(notebook: str, path: Path | None = None, profiles: dict | None = None) -> tuple[dict, str] | None:
    """(values, line): local.yaml's profile values for `notebook`, then its overrides, and the one line that says
    what they are; None when there is no local.yaml."""
    path = LOCAL_FILE if path is None else Path(path)
    if not path.exists():
        return None
    profiles = load_profiles() if profiles is None else profiles  # read once, for the check and the values
    local = load_local(path, profiles)
    parts, values = [], {}
    if "profile" in local:
        chosen = profiles[local["profile"]].get(notebook) or {}
        values.update(chosen)
        parts.append(f"profile {local['profile']!r} ({_shown_values(chosen)})")
    mine = local.get(notebook) or {}
    if mine:
        values.update(mine)
        parts.append(f"your overrides ({_shown_values(mine)})")
    what = ", then ".join(parts) if parts else "nothing for this notebook"
    return values, f"{_shown(path)}: applied {what}"


def parse_value(text: str):
    """A -p value as YAML reads it, as papermill's -p does: 0.2 is a float, 12 an int, true a bool, [1, 2] a list,
    anything else the string itself. A number in e-notation is a float too (YAML 1.1 reads 3e-4 as a string)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str) and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+", value.strip()):
        return float(value)
    return value


def _type_ok(value, default) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if default is None:
        return True
    return isinstance(value, type(default))


def overrides_from_args(pairs: list[tuple[str, str]], params: str = "") -> dict:
    """-p NAME VALUE pairs and a PARAMS string ("beta=0.2 sft_adapter=path") as one dict of typed values."""
    overrides = {name: parse_value(value) for name, value in pairs}
    for pair in params.split():
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"PARAMS entry {pair!r}: expected NAME=VALUE (e.g. PARAMS=\"beta=0.2 seed=1\")")
        overrides[name] = parse_value(value)
    return overrides


def check_overrides(overrides: dict, notebooks: tuple[str, ...] = NOTEBOOKS) -> dict:
    """The learner's -p NAME VALUE pairs, checked against the notebooks' `parameters` cells before anything runs:
    a name no notebook defines is an error listing the known ones (papermill only warns, and runs the default),
    and a value whose type differs from the notebook's default is an error naming both. Returns the overrides.
    A name several notebooks define (seed, sft_adapter, ...) goes to each of them."""
    defaults: dict[str, object] = {}
    for name in notebooks:
        for key, value in notebook_parameters(notebook_path(name)).items():
            defaults.setdefault(key, value)
    for key, value in overrides.items():
        if key in INJECTED:
            raise ValueError(f"-p {key}: set by the runner (use --run-id / --profile)")
        if key not in defaults:
            known = ", ".join(sorted(k for k in defaults if k not in INJECTED))
            raise ValueError(f"-p {key}: no such parameter in {', '.join(notebooks)}; known: {known}")
        if not _type_ok(value, defaults[key]):
            raise ValueError(f"-p {key} {value!r}: expected type {type(defaults[key]).__name__}, like the notebook's "
                             f"default {defaults[key]!r}, got a {type(value).__name__}")
    return overrides
