"""The UltraFeedback preview: a readable table from a small file in the dataset's real schema, one line offline."""

import json

import pytest

from helpers.preferences import PreferenceDataError, preview_ultrafeedback
from helpers.preferences import ultrafeedback as uf


def _rows(n=4):
    """Rows in the schema of HuggingFaceH4/ultrafeedback_binarized's train_prefs split."""
    rows = []
    for i in range(n):
        p = f"How do I reverse a list in Python? ({i})"
        good = "Use reversed(xs), or xs[::-1] for a copy." + (" It also works on strings." if i % 2 else "")
        bad = "Lists cannot be reversed."
        rows.append({"prompt": p, "prompt_id": f"{i:064x}",
                     "chosen": [{"role": "user", "content": p}, {"role": "assistant", "content": good}],
                     "rejected": [{"role": "user", "content": p}, {"role": "assistant", "content": bad}],
                     "messages": [{"role": "user", "content": p}, {"role": "assistant", "content": good}],
                     "score_chosen": 8.0 + i % 2, "score_rejected": 3.0})
    rows[3]["rejected"][1]["content"] = "Lists cannot be reversed, " * 5  # one pair where the chosen one is shorter
    return rows


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_preview_of_a_local_copy(tmp_path, fmt, capsys):
    import pandas as pd

    path = tmp_path / f"train_prefs.{fmt}"
    frame = pd.DataFrame(_rows())
    frame.to_parquet(path) if fmt == "parquet" else frame.to_json(path, orient="records", lines=True)
    table = preview_ultrafeedback(str(path), limit=3)
    assert list(table.columns) == ["prompt", "chosen", "rejected", "score gap", "chosen longer"]
    assert len(table) == 3 and table["score gap"].tolist() == [5.0, 6.0, 5.0]
    assert table.loc[1, "chosen"].endswith("It also works on strings.") and table["chosen longer"].all()
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [f"3 UltraFeedback pairs from {path}: mean score gap 5.33; the chosen answer is the longer one in "
                   "100% of them"]
    assert preview_ultrafeedback(str(path), limit=10)["chosen longer"].tolist() == [True, True, True, False]


def test_a_malformed_local_file_still_raises_one_line(tmp_path):
    rows = _rows()
    rows[1]["chosen"] = rows[1]["chosen"][:1]
    path = tmp_path / "train_prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(PreferenceDataError, match="row 1: chosen has no assistant answer") as err:
        preview_ultrafeedback(str(path), limit=4)
    assert "\n" not in str(err.value)


def _assert_one_offline_line(capsys):
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert len(lines) == 1 and not out.err, out
    assert uf.LOCAL_COPY in lines[0] and "ultrafeedback_source" in lines[0] and "score_chosen" in lines[0]


def test_offline_hub_prints_where_to_put_a_local_copy(monkeypatch, capsys):
    import datasets

    def offline(*args, **kwargs):  # what datasets 5 raises without network
        raise ConnectionError(f"Couldn't reach '{uf.HUB_NAME}' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(uf, "hub_reachable", lambda timeout_s=3.0: True)  # the probe passes, the download fails
    monkeypatch.setattr(datasets, "load_dataset", offline)
    assert preview_ultrafeedback(uf.HUB_NAME, limit=5) is None
    _assert_one_offline_line(capsys)


def test_no_network_is_seen_before_the_download_retries(monkeypatch, capsys):
    import datasets

    monkeypatch.setattr(uf, "hub_reachable", lambda timeout_s=3.0: False)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("the hub was asked while offline"))
    assert preview_ultrafeedback(uf.HUB_NAME, limit=5) is None
    _assert_one_offline_line(capsys)


def test_offline_environment_means_unreachable(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert uf.hub_reachable() is False


def test_limit_is_checked():
    with pytest.raises(ValueError, match="limit"):
        preview_ultrafeedback(uf.HUB_NAME, limit=0)
