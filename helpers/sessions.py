"""The parameter rules of the three session notebooks, and the one check each notebook and the runner call.

Each notebook's `parameters` cell is followed by `sessions.start(<notebook>, globals())`: in a Lab session it
applies the learner's notebooks/local.yaml (a profile and overrides, in an untracked file, so `git status` stays
clean), then every bad value is named on one line before any work starts. The runner checks a profile's values the
same way (`check_parameters`) before it starts a kernel. The rules are built from `checks`, and from the choices
the lower layers offer.
"""

from __future__ import annotations

from helpers.checks import (
    ParameterError,
    all_of,
    choice,
    count,
    counts,
    flag,
    fraction,
    integer,
    number,
    path_string,
    positive,
    positives,
    steps_or_all,
    text,
)
from helpers.exercises.core import MODES
from helpers.judges import JUDGE_KINDS
from helpers.paths import in_lab
from helpers.preferences import STRATEGIES
from helpers.profiles import local_parameters
from helpers.training import SFT_SELECTIONS

# what every notebook has: where it writes (set by the runner), the profile's name, the base model (a name, a
# local folder or a hub id) and whose exercise answers are checked. Plain papermill passes `-p run_dir 5` as an int:
# a rule names it, not a TypeError.
COMMON = {"run_dir": path_string, "profile": text, "model_name": text,
          "exercises": lambda n, v: choice(n, v, MODES)}
PREFERENCE_SOURCES = ("own", "ultrafeedback")  # Session B: the pairs built here, or UltraFeedback's
INTERACTIVE = "interactive"  # the notebooks' default `profile`; the runner injects a profile's name instead

RULES: dict[str, dict] = {
    # the recovery curve and the beta sweep compare their first and last points: two values, increasing
    "01_dpo_math": {
        "n_prompts": count, "n_responses": lambda n, v: count(n, v, minimum=2), "beta": positive,
        "n_pairs": count, "pair_counts": lambda n, v: counts(n, v, min_len=2, increasing=True),
        "beta_grid": lambda n, v: positives(n, v, min_len=2, increasing=True), "sweep_pairs": count,
        "train_steps": count, "seed": integer, "notes_dir": path_string, **COMMON,
    },
    "02_preferences_and_dpo": {
        "seed": integer, "sft_examples": count, "sft_selection": lambda n, v: choice(n, v, SFT_SELECTIONS),
        "sft_epochs": positive, "sft_learning_rate": positive, "sft_severity_weight": positive,
        "sft_check_prompts": count, "n_pref_prompts": count,
        "sample_temperatures": lambda n, v: positives(n, v, min_len=2),
        "pair_strategy": lambda n, v: choice(n, v, STRATEGIES),
        "min_score_gap": lambda n, v: number(n, v, minimum=0),
        "near_identical": lambda n, v: fraction(n, v, high_open=False), "balance_pairs": flag,
        "max_new_tokens": count, "gen_batch_size": count, "judge": lambda n, v: choice(n, v, JUDGE_KINDS),
        "judge_concurrency": count, "use_batch_api": flag,
        "val_fraction": lambda n, v: fraction(n, v, low_open=False),
        "beta": positive, "learning_rate": positive, "nll_weight": lambda n, v: number(n, v, minimum=0),
        "epochs": positive, "batch_size": count, "grad_accum": count, "max_steps": steps_or_all,
        "eval_steps": count, "kl_prompts": lambda n, v: count(n, v, minimum=0), "kl_warn_nats": positive,
        "beta_demo": lambda n, v: positives(n, v, min_len=0), "beta_demo_steps": count,
        "beta_demo_triples": count, "compare_recipes": flag, "contrast_prompts": count,
        "n_side_by_side": lambda n, v: count(n, v, minimum=0),
        "sft_adapter": path_string, "judge_model": text, "report_to": text, "version_tag": text,
        "preference_source": lambda n, v: choice(n, v, PREFERENCE_SOURCES), "ultrafeedback_source": text,
        "ultrafeedback_rows": count, **COMMON,
    },
    "03_three_way_eval": {
        "seed": integer, "n_eval": count, "n_unseen": count, "max_new_tokens": count, "batch_size": count,
        "eval_judge": lambda n, v: choice(n, v, JUDGE_KINDS), "judge_concurrency": count,
        "n_bootstrap": lambda n, v: count(n, v, minimum=100),
        "n_examples_shown": lambda n, v: count(n, v, minimum=0),
        "sft_adapter": path_string, "dpo_adapter": path_string, "judge_model": text, "notes_dir": path_string,
        "releases_dir": path_string, **COMMON,
    },
}


def check_parameters(notebook: str, namespace: dict) -> None:
    """Every range-checked parameter of a session notebook, read from its namespace (`globals()` in the
    notebook), before any work: one ParameterError naming each bad one with its value."""
    rules = RULES[notebook]
    all_of(*(lambda name=name, rule=rule: rule(name, namespace[name]) for name, rule in rules.items()
             if name in namespace))


def start(notebook: str, namespace: dict) -> None:
    """A notebook's first call, after its `parameters` cell (`namespace` is its `globals()`). In a Lab kernel that
    the runner did not start, notebooks/local.yaml's profile values, then its overrides, go into the namespace, with
    one printed line saying what was applied; papermill and the runner never read it. Then `check_parameters`."""
    applied = {}
    if in_lab() and namespace.get("profile") == INTERACTIVE:
        local = local_parameters(notebook)
        if local is not None:
            applied, line = local
            namespace.update(applied)
            print(line)
    try:
        check_parameters(notebook, namespace)
    except ParameterError as err:
        named = [name for name in applied if name in str(err)]
        if not named:
            raise
        raise ParameterError(f"{err} (set in notebooks/local.yaml: {', '.join(named)})") from None
