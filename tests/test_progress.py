"""What a learner sees while things run: the library bars hidden, widget bars that leave a text line, status lines."""

import pytest

from helpers import progress


def test_durations_and_summary_lines_read_plainly():
    assert [progress.duration(s) for s in (0.43, 42.2, 185, 3725)] == ["0.4 s", "42 s", "3 min 05 s", "1 h 02 min"]
    assert progress.summary_line("SFT check", 4, 4, "batch", 5.3) == "SFT check: 4/4 batches in 5.3 s"
    assert progress.summary_line("judging: ", 1, 10, "answer", 75) == "judging: stopped at 1/10 answers in 1 min 15 s"
    assert progress.summary_line(None, 3, None, "it", 2) == "3 its in 2.0 s"


def test_a_widget_bar_leaves_one_text_line_when_it_closes(monkeypatch, capsys):
    """A saved notebook cannot redraw a widget whose state the git filter stripped: the text line stays."""
    monkeypatch.setattr(progress, "widgets_available", lambda: True)
    bar = progress.tqdm(range(3), desc="sampling", unit="batch")
    assert isinstance(bar, progress._widget_bar_class())
    assert list(bar) == [0, 1, 2]  # the loop's end closes the bar
    bar.close()  # a second close (a `with` block, garbage collection) adds no second line
    out = capsys.readouterr().out
    assert out.count("sampling: 3/3 batches in ") == 1
    stopped = progress.tqdm(total=5, desc="judging", unit="answer")
    stopped.update(1)  # an error in the second item: the loop never ends, the bar is closed after it
    stopped.close()
    assert "judging: stopped at 1/5 answers in " in capsys.readouterr().out
    progress.tqdm(range(2), desc="hidden", disable=True).close()
    assert "hidden" not in capsys.readouterr().out


def test_text_bars_stay_plain_tqdm(monkeypatch, capsys):
    from tqdm import tqdm as text_tqdm

    monkeypatch.setattr(progress, "widgets_available", lambda: False)
    bar = progress.tqdm(range(2), desc="eval")
    assert type(bar) is text_tqdm
    list(bar)
    assert "eval: 2/2" not in capsys.readouterr().out  # its own last state already stays, on stderr


def test_a_status_line_says_what_ran_its_result_and_how_long(capsys):
    with progress.status("KL at step 4") as line:
        line.result = "0.120 nats"
    assert capsys.readouterr().out.startswith("KL at step 4 ... 0.120 nats, 0.0 s")
    with pytest.raises(KeyboardInterrupt), progress.status("saving"):
        raise KeyboardInterrupt
    assert "saving ... stopped after" in capsys.readouterr().out


def test_loading_a_model_shows_no_library_bar_and_leaves_their_switches_as_they_were(tiny, tmp_path, capfd):
    import datasets
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as transformers_logging

    from helpers.models import load_model

    model, tokenizer = tiny
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    AutoModelForCausalLM.from_pretrained(tmp_path)  # the library alone: its bar, so the test below means something
    assert "Loading weights" in capfd.readouterr().err
    load_model(str(tmp_path))
    captured = capfd.readouterr()
    assert "Loading weights" not in captured.err + captured.out
    assert transformers_logging.is_progress_bar_enabled() and not datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # a learner's own choice survives the block
    try:
        with progress.quiet_library_bars():
            pass
        assert datasets.are_progress_bars_disabled()
    finally:
        datasets.enable_progress_bars()
