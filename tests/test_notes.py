from helpers import notes


def test_scaffolds_are_written_once_and_never_overwritten(tmp_path):
    folder = tmp_path / "notes"
    created = notes.write_scaffolds(folder)
    assert [p.name for p in created] == [notes.DPO_NOTES, notes.INSTRUCTGPT_NOTES]
    dpo = (folder / notes.DPO_NOTES).read_text()
    for heading in ("## The RLHF objective", "## The closed-form optimum", "why Z(x) cancels", "## The DPO loss",
                    "beta", "## DPO vs RLHF with PPO", "## Constitutional AI"):
        assert heading in dpo, heading
    gpt = (folder / notes.INSTRUCTGPT_NOTES).read_text()
    assert "## Reward modelling" in gpt and "## PPO and the KL penalty" in gpt
    (folder / notes.DPO_NOTES).write_text("mine")
    assert notes.write_scaffolds(folder) == []  # both exist: nothing written
    assert (folder / notes.DPO_NOTES).read_text() == "mine"


def test_own_word_count_leaves_out_the_scaffold(tmp_path):
    notes.write_scaffolds(tmp_path)
    path = tmp_path / notes.DPO_NOTES
    assert notes.own_word_count(path) == 0  # the headings and prompts are not the learner's words
    path.write_text(path.read_text().replace("## The DPO loss\n", "## The DPO loss\nThe loss is a logistic loss on "
                                                                   "the margin of implicit rewards.\n"))
    assert notes.own_word_count(path) == 12
    assert notes.own_word_count(tmp_path / "absent.md") == 0
    (tmp_path / "free.md").write_text("- one two\n# three")  # a file of the learner's own: every word counts
    assert notes.own_word_count(tmp_path / "free.md") == 3


def test_a_notes_dir_that_is_a_file_is_one_line(tmp_path):
    import pytest

    (tmp_path / "notes").write_text("x")
    with pytest.raises(NotADirectoryError, match="notes_dir: .* is a file"):
        notes.write_scaffolds(tmp_path / "notes")
