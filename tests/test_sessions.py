"""A short pass in Lab without editing a tracked file: `sessions.start` applies the learner's untracked
notebooks/local.yaml (a profile, then overrides) in a Lab kernel only, then checks every parameter; and the rules of
the parameters the sessions have."""

from __future__ import annotations

import pytest

from helpers import profiles, sessions
from helpers.checks import ParameterError
from helpers.profiles import notebook_parameters, notebook_path

A, B, C = profiles.NOTEBOOKS


def _defaults(notebook: str) -> dict:
    return notebook_parameters(notebook_path(notebook))


@pytest.fixture()
def local(tmp_path, monkeypatch):
    """write(text): the learner's local.yaml, in a Lab kernel (jupyter_server sets JPY_SESSION_NAME)."""
    path = tmp_path / "local.yaml"
    monkeypatch.setattr(profiles, "LOCAL_FILE", path)
    monkeypatch.setenv("JPY_SESSION_NAME", "/repo/notebooks/x.ipynb")

    def write(text: str):
        path.write_text(text)
        return path

    return write


def test_in_lab_local_yaml_applies_the_profile_then_the_overrides_in_one_line(local, capsys):
    local("profile: quick\n02_preferences_and_dpo: {max_steps: 3, beta: 0.2}\n")
    namespace = _defaults(B)
    sessions.start(B, namespace)
    quick = profiles.load_profiles()["quick"][B]
    assert namespace["max_steps"] == 3 and namespace["beta"] == 0.2  # the override wins over the profile
    assert all(namespace[k] == v for k, v in quick.items() if k != "max_steps")
    assert namespace["profile"] == "interactive"  # what the notebook records as its profile is unchanged
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "local.yaml: applied profile 'quick' (" in out
    assert "then your overrides (max_steps=3, beta=0.2)" in out
    # another notebook gets the profile's values for it, and none of B's overrides
    namespace = _defaults(A)
    sessions.start(A, namespace)
    assert namespace["pair_counts"] == profiles.load_profiles()["quick"][A]["pair_counts"]
    assert "your overrides" not in capsys.readouterr().out


def test_papermill_and_the_runner_never_read_local_yaml(local, monkeypatch, capsys):
    local("profile: quick\n")
    injected = {**_defaults(A), "profile": "smoke", "run_dir": "runs/x"}  # the runner injects its profile
    sessions.start(A, injected)
    assert injected["pair_counts"] == _defaults(A)["pair_counts"]
    monkeypatch.delenv("JPY_SESSION_NAME")  # plain papermill: no Lab kernel
    plain = _defaults(A)
    sessions.start(A, plain)
    assert plain == _defaults(A) and capsys.readouterr().out == ""


def test_without_local_yaml_start_only_checks(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(profiles, "LOCAL_FILE", tmp_path / "absent.yaml")
    monkeypatch.setenv("JPY_SESSION_NAME", "x.ipynb")
    namespace = _defaults(C)
    sessions.start(C, namespace)
    assert namespace == _defaults(C) and capsys.readouterr().out == ""
    with pytest.raises(ParameterError, match="n_eval must be an integer >= 1, got 0"):
        sessions.start(C, {**_defaults(C), "n_eval": 0})


@pytest.mark.parametrize("text, needles", [
    pytest.param("profile: quik\n", ["profile: 'quik' is not a profile", "choose one of full, quick, smoke"],
                 id="unknown-profile"),
    pytest.param("profile: [quick]\n", ["profile: ['quick'] is not a profile"], id="profile-not-a-name"),
    pytest.param("02_preferences_and_dpo: {max_step: 4}\n", ["notebook 02_preferences_and_dpo: parameter "
                 "'max_step' is not defined"], id="unknown-parameter"),
    pytest.param("02_prefs: {max_steps: 4}\n", ["unknown notebook '02_prefs'"], id="unknown-notebook"),
    pytest.param("01_dpo_math: {profile: quick}\n", ["'profile' goes at the top of the file"], id="nested-profile"),
    pytest.param("01_dpo_math: [4]\n", ["notebook 01_dpo_math: the parameters must be a mapping"], id="not-a-mapping"),
    pytest.param("- quick\n", ["expected a mapping, e.g. `profile: quick`"], id="a-list"),
    pytest.param("profile: quick\n  max_steps: [\n", ["local.yaml:2:", "mapping values are not allowed"],
                 id="yaml-error"),
])
def test_a_bad_local_yaml_is_one_line_naming_the_file_and_the_key(local, text, needles):
    local(text)
    with pytest.raises(ValueError) as err:
        sessions.start(A, _defaults(A))
    message = str(err.value)
    assert "local.yaml" in message and "\n" not in message
    assert all(needle in message for needle in needles), message


def test_a_bad_value_from_local_yaml_says_where_it_came_from(local, capsys):
    local("01_dpo_math: {beta: -1}\n")
    with pytest.raises(ParameterError) as err:
        sessions.start(A, _defaults(A))
    assert str(err.value) == "beta must be a positive number, got -1 (set in notebooks/local.yaml: beta)"
    assert "applied your overrides (beta=-1)" in capsys.readouterr().out


def test_an_empty_local_yaml_applies_nothing(local, capsys):
    local("")
    namespace = _defaults(A)
    sessions.start(A, namespace)
    assert namespace == _defaults(A) and "applied nothing for this notebook" in capsys.readouterr().out


@pytest.mark.parametrize("notebook, name, good, bad, needle", [
    (A, "exercises", "reference", "answers", "exercises must be one of 'learner', 'reference', got 'answers'"),
    (C, "exercises", "learner", 5, "exercises must be one of 'learner', 'reference', got 5"),
    (A, "notes_dir", "notes", 3, "notes_dir must be a path (a string), got 3"),
    (B, "preference_source", "ultrafeedback", "hub", "preference_source must be one of 'own', 'ultrafeedback'"),
    (B, "ultrafeedback_source", "data/uf.parquet", "", "ultrafeedback_source must be a non-empty string"),
    (B, "ultrafeedback_rows", 200, 0, "ultrafeedback_rows must be an integer >= 1, got 0"),
    (C, "eval_judge", "claude", "gpt", "eval_judge must be one of 'auto', 'rubric', 'claude', got 'gpt'"),
    (C, "releases_dir", "releases", None, "releases_dir must be a path (a string), got None"),
])
def test_the_new_session_parameters_have_rules(notebook, name, good, bad, needle):
    sessions.check_parameters(notebook, {**_defaults(notebook), name: good})
    with pytest.raises(ParameterError) as err:
        sessions.check_parameters(notebook, {**_defaults(notebook), name: bad})
    assert needle in str(err.value) and "\n" not in str(err.value)
