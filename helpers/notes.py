"""The learner's paper notes: scaffolds with the course's questions as headings, and a word count of what the learner
wrote under them (the scaffold's own headings and prompts do not count).

Session A writes the scaffolds into notes/ (never over a file that exists); Session C's end-of-week checklist counts
the learner's own words with `own_word_count`.
"""

from __future__ import annotations

from pathlib import Path

DPO_NOTES = "dpo_paper_notes.md"
INSTRUCTGPT_NOTES = "instructgpt_notes.md"

_DPO_SCAFFOLD = """\
# DPO paper notes

_Rafailov et al., "Direct Preference Optimization: Your Language Model is Secretly a Reward Model" \
(arxiv.org/abs/2305.18290). About 600 words in your own words: write under each heading. Only your words count, \
not this scaffold's._

## The RLHF objective
_What does RLHF maximise, and what does the KL term to the reference model stop?_

## The closed-form optimum
_Why does the KL-regularised objective have an optimal policy in closed form, and what is it?_

## The implicit reward, and why Z(x) cancels
_How does the reward follow from the optimal policy, and why does the partition function Z(x) drop out when two \
answers to the same prompt are compared?_

## The DPO loss
_Write the loss from the four log-probabilities. What is it at the reference policy, and what weights each \
example's gradient?_

## What beta trades off
_Trusting the preference data against staying near the reference: what happens when beta is too high, or too low?_

## DPO vs RLHF with PPO
_What does DPO remove (the reward model, the RL loop), what does that buy, and what can it lose?_

## Constitutional AI
_What does Anthropic's approach add (critiques the model writes itself), and where does it sit among alignment \
methods?_

## Still unclear
_What would you ask the authors?_
"""

_INSTRUCTGPT_SCAFFOLD = """\
# InstructGPT notes

_Ouyang et al., "Training language models to follow instructions with human feedback" \
(arxiv.org/abs/2203.02155): the sections on reward modelling and PPO. Write under each heading in your own words._

## The three steps
_Supervised fine-tuning, a reward model, PPO: what goes into each step and what comes out?_

## Reward modelling
_How were the comparisons collected, and what loss trains the reward model on them?_

## PPO and the KL penalty
_What does PPO optimise, why the KL penalty to the SFT model, and what does mixing in pretraining data fix?_

## What it cost and what it bought
_Labellers, models, the "alignment tax": what did the human evaluations show?_

## Where DPO differs
_Which of these steps does DPO replace, and why is that simpler to run?_
"""

SCAFFOLDS = {DPO_NOTES: _DPO_SCAFFOLD, INSTRUCTGPT_NOTES: _INSTRUCTGPT_SCAFFOLD}
# every line a scaffold brings, stripped: never counted as the learner's words
_SCAFFOLD_LINES = frozenset(line.strip() for text in SCAFFOLDS.values() for line in text.splitlines() if line.strip())


def count_words(text: str) -> int:
    """Words in a text, counting only tokens with a letter or digit (markdown bullets and dashes are not words)."""
    return len([w for w in text.split() if any(ch.isalnum() for ch in w)])


def write_scaffolds(notes_dir: str | Path) -> list[Path]:
    """Create the DPO paper notes and InstructGPT notes scaffolds in `notes_dir` where they are absent; a file that
    exists is never touched. Returns the paths created (empty when both were there)."""
    notes_dir = Path(notes_dir)
    if notes_dir.exists() and not notes_dir.is_dir():
        raise NotADirectoryError(f"notes_dir: {notes_dir} is a file, not a folder: set notes_dir to a folder")
    notes_dir.mkdir(parents=True, exist_ok=True)
    created = []
    for name, text in SCAFFOLDS.items():
        path = notes_dir / name
        try:
            with path.open("x", encoding="utf-8") as f:  # "x": never over a file that exists, even one made just now
                f.write(text)
        except FileExistsError:
            continue
        created.append(path)
    return created


def own_words(text: str) -> str:
    """The text without the lines a scaffold brings (its headings and prompts, as written there)."""
    return "\n".join(line for line in text.splitlines() if line.strip() not in _SCAFFOLD_LINES)


def own_word_count(path: str | Path) -> int:
    """Words the learner wrote in a notes file, not counting the scaffold's headings and prompts; 0 when the file
    does not exist."""
    path = Path(path)
    if not path.is_file():
        return 0
    return count_words(own_words(path.read_text(encoding="utf-8", errors="replace")))
