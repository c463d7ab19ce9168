"""What a learner reads in the notebooks, checked without a kernel.

- No issue number ("#15", "issue 15") in any cell, markdown or code (comments too): the history lives in docs/.
- No figure a run produces typed into the prose: outside `code spans` and $math$ no decimal number, no percentage,
  no count of run outputs ("541 pairs", "62 steps", "2 nats", "32 min", "3 GB"), except in a paragraph that says
  where it was measured ("measured on ...", a labelled time). The cell below the text prints the run's own figure.
- Session B's markdown cells stay short: at most 250 words each.
- Every notebook has at least three exercises: a markdown cell `### ✎ Exercise: ...`, a code cell the learner fills
  (first line `# YOUR ANSWER HERE`, with `...` placeholders), then a check cell that passes `mode=exercises` (right
  after it, or after the cells that reveal a prediction's answer); and the `parameters` cell has
  `exercises = "learner"`.
"""

from __future__ import annotations

import json
import re

import pytest

from helpers.profiles import NOTEBOOKS, notebook_parameters, notebook_path

MAX_WORDS_B = 250
MIN_EXERCISES = 3
LABELLED_TIME = "measured on"
# true constants, not run figures, that a paragraph may state in plain text
ALLOWED_FIGURES = {"0.693": "ln 2, the DPO loss at the reference", "95%": "the level of every interval",
                   "50%": "a coin flip", "0.5": "a coin flip", "0.25": "chance among the four severities"}

ISSUE_NUMBER = re.compile(r"(?<![\w&#/])#\d{1,4}\b|\bissues?\s+#?\d+", re.IGNORECASE)
DECIMAL = re.compile(r"(?<![\w.])\d*\.\d+(?![\w.]*\d)")
PERCENT = re.compile(r"\d+(?:\.\d+)?\s*%")
# a count, not a term of a formula ("N − 1 pairs")
RUN_COUNT = re.compile(r"(?<![\w.])(?<![−+*/×-]\s)\d[\d,]*(?:\.\d+)?\s*(?:pairs|steps|nats|minutes|min|GB)\b",
                       re.IGNORECASE)
FIGURES = {"decimal number": DECIMAL, "percentage": PERCENT, "count of run outputs": RUN_COUNT}


def _cells(name: str) -> list[dict]:
    return json.loads(notebook_path(name).read_text())["cells"]


def _source(cell: dict) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else source


def _paragraphs(markdown: str) -> list[str]:
    """The prose of a markdown cell, paragraph by paragraph, without what is not prose: fenced code, display and
    inline math, code spans, link targets and URLs, HTML tags, and a heading's section number ("## 2.1 ...")."""
    text = re.sub(r"```.*?```|~~~.*?~~~", " ", markdown, flags=re.DOTALL)
    text = re.sub(r"\$\$.*?\$\$|\\\[.*?\\\]", " ", text, flags=re.DOTALL)
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = re.sub(r"(`+).*?\1", " ", paragraph, flags=re.DOTALL)  # code spans, `x` and ``x``
        paragraph = re.sub(r"(?<!\\)\$[^$\n]+?(?<!\\)\$|\\\(.*?\\\)", " ", paragraph)  # inline math
        paragraph = re.sub(r"\]\([^)]*\)", "]", paragraph)  # link targets
        paragraph = re.sub(r"https?://\S+|<[^>\n]+>|arXiv:\d+\.\d+", " ", paragraph)  # URLs, HTML tags, arXiv ids
        paragraph = re.sub(r"^(\s*#+\s+)\d+(?:\.\d+)*\.?", r"\1", paragraph, flags=re.MULTILINE)
        paragraphs.append(paragraph)
    return paragraphs


def typed_figures(markdown: str) -> list[str]:
    """Every run figure typed into a markdown cell's prose, as 'kind: "text"'; [] when there is none."""
    found = []
    for paragraph in _paragraphs(markdown):
        if LABELLED_TIME in paragraph.lower():
            continue
        for kind, pattern in FIGURES.items():
            found += [f'{kind}: "{m.group(0).strip()}"' for m in pattern.finditer(paragraph)
                      if m.group(0).strip() not in ALLOWED_FIGURES]
    return found


def words(markdown: str) -> int:
    """Words a reader reads: whitespace-separated tokens with a letter or a digit (not table rules or bullets)."""
    return sum(bool(re.search(r"\w", token)) for token in markdown.split())


def _is_fill_cell(cell: dict) -> bool:
    return cell["cell_type"] == "code" and _source(cell).lstrip().startswith("# YOUR ANSWER HERE")


def exercises(cells: list[dict]) -> tuple[list[int], list[str]]:
    """(the indices of the fill cells that form a whole exercise, the problems with the others). A prediction's
    check may come after the cells that reveal the answer, so the check is any code cell passing `mode=exercises`
    before the next exercise."""
    found, problems, heading_seen = [], [], False
    for i, cell in enumerate(cells):
        source = _source(cell)
        if cell["cell_type"] == "markdown" and re.search(r"^#+\s*✎ Exercise:", source, re.MULTILINE):
            heading_seen = True
        if not _is_fill_cell(cell):
            continue
        until = next((j for j in range(i + 1, len(cells)) if _is_fill_cell(cells[j])), len(cells))
        checked = any(c["cell_type"] == "code" and re.search(r"\bmode\s*=\s*exercises\b", _source(c))
                      for c in cells[i + 1:until])
        if not heading_seen:
            problems.append(f"cell {i}: no `### ✎ Exercise: <title>` markdown cell before this exercise")
        elif "..." not in source:
            problems.append(f"cell {i}: the cell to fill holds no `...` placeholder")
        elif not checked:
            problems.append(f"cell {i}: no code cell after it checks it with `mode=exercises`")
        else:
            found.append(i)
        heading_seen = False
    return found, problems


# ----------------------------------------------------------------------------- the checkers themselves


def test_the_figure_check_flags_run_figures_and_spares_code_math_and_labelled_times():
    flagged = typed_figures("Severity went from 0.60 to 0.76 (84% of the margin) with 541 pairs in 62 steps, "
                            "KL 2 nats, 32 min, 3 GB.")
    assert flagged == ['decimal number: "0.60"', 'decimal number: "0.76"', 'percentage: "84%"',
                       'count of run outputs: "541 pairs"', 'count of run outputs: "62 steps"',
                       'count of run outputs: "2 nats"', 'count of run outputs: "32 min"',
                       'count of run outputs: "3 GB"']
    spared = ("## 2.1 The loss\n\n`beta = 0.1` and $\\sigma(0.3) \\approx 0.574$, $$\\sigma(1.5)$$ and "
              "[DPO](https://arxiv.org/abs/2305.18290) ([arXiv:2203.02155](x)), with SmolLM2 v0.2, 140 eval "
              "reports, 680 preference prompts, N = 4 answers, up to N − 1 pairs, a 95% interval."
              "\n\n```python\nx = 0.7\n```\n\nAbout 2.5 minutes, measured on a 2-core AMD EPYC Zen 5.")
    assert typed_figures(spared) == []


def test_the_issue_check_flags_issue_numbers_but_not_colours_or_entities():
    assert ISSUE_NUMBER.search("issue #15's data") and ISSUE_NUMBER.search("see Issue 12")
    assert ISSUE_NUMBER.search("# measured for #11") and ISSUE_NUMBER.search("(issues 11 and 13)")
    assert not ISSUE_NUMBER.search('color="#1f77b4"; colour "#123456"; &#39; ## 2. Score; # 3 seeds')


def test_the_exercise_check_wants_a_heading_a_placeholder_and_a_check_cell():
    def md(text):
        return {"cell_type": "markdown", "source": text}

    def code(text):
        return {"cell_type": "code", "source": text}

    fill, check = code("# YOUR ANSWER HERE: one letter\nguess = ...\n"), code("ex.check(guess, mode=exercises)")
    prediction = [md("### ✎ Exercise: predict"), fill, code("reveal()"), check]
    assert exercises([md("### ✎ Exercise: the loss"), fill, check, *prediction]) == ([1, 4], [])
    assert exercises([fill, check])[1] == ["cell 0: no `### ✎ Exercise: <title>` markdown cell before this exercise"]
    assert "no `...` placeholder" in exercises([md("### ✎ Exercise: x"), code("# YOUR ANSWER HERE\nx = 1"),
                                                check])[1][0]
    assert "checks it with `mode=exercises`" in exercises([md("### ✎ Exercise: x"), fill, code("x")])[1][0]


# ----------------------------------------------------------------------------- the notebooks


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_issue_number_where_a_learner_reads(name):
    found = [f"cell {i} ({c['cell_type']}): {m.group(0)!r}" for i, c in enumerate(_cells(name))
             for m in ISSUE_NUMBER.finditer(_source(c))]
    assert not found, f"{name}: issue numbers (the history goes to docs/): {found}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_run_figure_typed_into_the_markdown(name):
    found = [f"cell {i}: {figure}" for i, c in enumerate(_cells(name)) if c["cell_type"] == "markdown"
             for figure in typed_figures(_source(c))]
    assert not found, (f"{name}: figures a run produces, typed into the text (print them from the run below; a "
                       f"time says where it was {LABELLED_TIME}): {found}")


def test_session_b_markdown_cells_are_short():
    long = [f"cell {i}: {words(_source(c))} words" for i, c in enumerate(_cells("02_preferences_and_dpo"))
            if c["cell_type"] == "markdown" and words(_source(c)) > MAX_WORDS_B]
    assert not long, f"Session B: markdown cells over {MAX_WORDS_B} words: {long}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_notebook_has_three_checked_exercises(name):
    found, problems = exercises(_cells(name))
    assert not problems, f"{name}: {problems}"
    assert len(found) >= MIN_EXERCISES, f"{name}: {len(found)} exercises, at least {MIN_EXERCISES} wanted"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_parameters_cell_chooses_whose_answers_are_checked(name):
    params = notebook_parameters(notebook_path(name))
    assert params.get("exercises") == "learner", (
        f'{name}: the parameters cell needs `exercises = "learner"` (the runner sets "reference"), '
        f"got {params.get('exercises')!r}")
