"""Parameter checks that run before any work starts: a bad value is one line naming the parameter and the value.

Without them a wrong setting fails far from its cause (`n_prompts = 0` as an IndexError in a plot, `n_responses = 0`
inside L-BFGS, `n_pairs = 0` after minutes of training) or, worse, runs on nothing (`limit = -1` gave 0 rows).
Each helper returns the value it checked, so a function can check and assign in one line.
"""

from __future__ import annotations

import math
import numbers
import os

MAX_SHOWN = 60  # characters of a bad value shown in a message: a huge list must not make a wall of text


class ParameterError(ValueError):
    """A parameter outside its range; the one-line message names the parameter, the rule and the value."""


def show(value, width: int = MAX_SHOWN) -> str:
    """repr() of a value, on one line (runs of whitespace as one space) and clipped to `width` characters: what an
    error message quotes."""
    text = " ".join(repr(value).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def count(name: str, value, minimum: int = 1, maximum: int | None = None) -> int:
    """An integer in [minimum, maximum]: how many prompts, pairs, steps... (True is not a count)."""
    rule = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    if not is_int(value) or value < minimum or (maximum is not None and value > maximum):
        raise ParameterError(f"{name} must be {rule}, got {show(value)}")
    return int(value)


def positive(name: str, value) -> float:
    """A finite number > 0 (beta, a learning rate, a scale)."""
    if not is_number(value) or value <= 0:
        raise ParameterError(f"{name} must be a positive number, got {show(value)}")
    return value


def number(name: str, value, minimum: float | None = None) -> float:
    """A finite number, optionally >= minimum."""
    if not is_number(value) or (minimum is not None and value < minimum):
        rule = "a finite number" + (f" >= {minimum}" if minimum is not None else "")
        raise ParameterError(f"{name} must be {rule}, got {show(value)}")
    return value


def fraction(name: str, value, low_open: bool = True, high_open: bool = True) -> float:
    """A number inside (0, 1) (ends open or closed as asked): a validation share, a probability."""
    lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
    ok = is_number(value) and (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    if not ok:
        raise ParameterError(f"{name} must be a number in {lo}0, 1{hi}, got {show(value)}")
    return value


def integer(name: str, value) -> int:
    """Any integer (a seed)."""
    if not is_int(value):
        raise ParameterError(f"{name} must be an integer, got {show(value)}")
    return int(value)


def counts(name: str, values, minimum: int = 1, min_len: int = 1, increasing: bool = False) -> list[int]:
    """A list of counts (pair_counts): at least min_len of them, each >= minimum, strictly increasing if asked."""
    rule = f"a list of {'at least ' + str(min_len) + ' ' if min_len > 1 else ''}integers >= {minimum}"
    rule += " in increasing order" if increasing else ""
    ok = (isinstance(values, (list, tuple)) and len(values) >= min_len
          and all(is_int(v) and v >= minimum for v in values)
          and (not increasing or all(a < b for a, b in zip(values, values[1:], strict=False))))
    if not ok:
        raise ParameterError(f"{name} must be {rule}, got {show(values)}")
    return list(values)


def positives(name: str, values, min_len: int = 1, increasing: bool = False) -> list[float]:
    """A list of positive numbers (beta_grid), at least min_len of them, strictly increasing if asked."""
    rule = f"a list of {'at least ' + str(min_len) + ' ' if min_len > 1 else ''}positive numbers"
    rule += " in increasing order" if increasing else ""
    ok = (isinstance(values, (list, tuple)) and len(values) >= min_len
          and all(is_number(v) and v > 0 for v in values)
          and (not increasing or all(a < b for a, b in zip(values, values[1:], strict=False))))
    if not ok:
        raise ParameterError(f"{name} must be {rule}, got {show(values)}")
    return list(values)


def all_of(*checks) -> None:
    """Run every check (zero-argument callables) and raise one ParameterError naming every bad parameter, so a
    notebook with three wrong settings says so once, on one line, instead of one rerun per setting."""
    problems = []
    for check in checks:
        try:
            check()
        except ParameterError as err:
            problems.append(str(err))
    if problems:
        raise ParameterError("; ".join(problems))


def choice(name: str, value, options) -> str:
    """One of a fixed set of strings (a judge kind, a pairing strategy)."""
    if value not in options:
        raise ParameterError(f"{name} must be one of {', '.join(map(repr, options))}, got {show(value)}")
    return value


def flag(name: str, value) -> bool:
    """True or False (not 0/1, not "yes": papermill passes what it is given)."""
    if not isinstance(value, bool):
        raise ParameterError(f"{name} must be True or False, got {show(value)}")
    return value


def path_string(name: str, value) -> str:
    """A path as the learner types it: a string (or a Path), empty where the notebook says empty means its default.
    papermill passes `-p sft_adapter 5` as the int 5, which otherwise fails deep inside as a TypeError."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise ParameterError(f"{name} must be a path (a string), got {show(value)}")
    return value


def text(name: str, value) -> str:
    """A non-empty string: a model name, a judge model, a tag (`-p version_tag 0.3` arrives as a float)."""
    if not isinstance(value, str) or not value.strip():
        raise ParameterError(f"{name} must be a non-empty string, got {show(value)}")
    return value


def steps_or_all(name: str, value) -> int:
    """-1 (no cap: run the epochs) or a number of steps >= 1."""
    if not is_int(value) or not (value == -1 or value >= 1):
        raise ParameterError(f"{name} must be -1 (run the epochs) or an integer >= 1, got {show(value)}")
    return int(value)
