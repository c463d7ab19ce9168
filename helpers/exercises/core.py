"""What every exercise shares: a verdict (right, wrong with an explanation and a hint, or not filled in) and the
one rule for going on: the learner's answer when it is right, the reference answer otherwise, so an exercise
never blocks the notebook.

An exercise cell follows nbgrader's convention for a learner's region: it is marked `# YOUR ANSWER HERE` and
holds `...` (Ellipsis) until filled in; a function exercise that still returns None counts as not filled in.
`exercises = "reference"` (what the runner sets under papermill) checks the reference answer instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MODES = ("learner", "reference")
UNFILLED_TEXT = "not filled in yet: the notebook goes on with the reference answer."


class ExerciseModeError(ValueError):
    pass


@dataclass(frozen=True)
class Verdict:
    """A check's answer: ok is True (right), False (wrong: `message` says what is still wrong) or None (not
    filled in)."""

    ok: bool | None
    message: str
    hint: str = ""

    def text(self, title: str = "") -> str:
        head = f"{title}: " if title else ""
        if self.ok is None:
            return f"… {head}{self.message}"
        mark = "✓" if self.ok else "✗"
        lines = [f"{mark} {head}{self.message}"]
        if not self.ok and self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()


def right(message: str) -> Verdict:
    return Verdict(True, message)


def wrong(message: str, hint: str = "") -> Verdict:
    return Verdict(False, message, hint)


def unfilled(message: str = UNFILLED_TEXT) -> Verdict:
    return Verdict(None, message)


def is_filled(answer: Any) -> bool:
    """An answer the learner has written: not the `...` placeholder, not None."""
    return answer is not Ellipsis and answer is not None


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ExerciseModeError(f"exercises = {mode!r}: expected one of {', '.join(map(repr, MODES))}")
    return mode


def safe_check(check: Callable[[Any], Verdict], answer: Any) -> Verdict:
    """`check(answer)`, with an exception raised by the learner's own code turned into a wrong verdict that names
    it (a typo in an answer is a lesson, not a crash)."""
    try:
        return check(answer)
    except Exception as err:  # the learner's code may raise anything
        return wrong(f"your answer raised {type(err).__name__}: {err}",
                     "run your code on a small example first and read the error's last line")


def run_exercise(title: str, answer: Any, check: Callable[[Any], Verdict], reference: Any,
                 mode: str = "learner") -> tuple[Any, Verdict]:
    """Check the learner's `answer` (or the reference, in reference mode), print the verdict, and return what the
    notebook goes on with: the answer when it is right, else the reference. Never raises for a wrong answer."""
    check_mode(mode)
    if mode == "reference":
        verdict = safe_check(check, reference)
        verdict = Verdict(verdict.ok, f"(reference answer) {verdict.message}", verdict.hint)
        print(verdict.text(title))
        return reference, verdict
    if not is_filled(answer):
        verdict = unfilled()
        print(verdict.text(title))
        return reference, verdict
    verdict = safe_check(check, answer)
    print(verdict.text(title))
    return (answer if verdict.ok else reference), verdict
