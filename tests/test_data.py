import hashlib
import re
from collections import Counter

import pytest

from helpers import datagen, task
from helpers.checks import ParameterError


@pytest.fixture(scope="module")
def splits():
    return {name: task.load_split(name) for name in task.SPLITS}


def test_generator_reproduces_the_shipped_files_byte_for_byte(tmp_path):
    datagen.write(tmp_path)
    for name in task.SPLITS:
        assert (tmp_path / f"{name}.jsonl").read_bytes() == (task.DATA_DIR / f"{name}.jsonl").read_bytes(), name


# The files as they were before dev_unseen was added, and the held-out splits' first 120 rows as they were before
# they grew: later rows are drawn after all earlier ones from the same generator and draw nothing they draw from,
# so adding (or changing) them must leave every earlier byte as it was.
PINNED_SHA256 = {
    "sft": "ba210fb00f0031038060cb794f06dc1aee4fd3309577e34e6f0274787ec0c7d3",
    "prefs": "38931c5e538e7b75c0d66b89b79afcbf2918cafee646b883128077a1ccc10559",
    "eval": "d963db941a246315033b292ba03576085258c53772909afb4b7be84c5501eda9",
}
PINNED_FIRST_120_SHA256 = {
    "unseen": "ee08310b1aa6b58747d69ba5480b549c01d512f039e63e562b19455ddcf3b840",
    "dev_unseen": "c2708c3008202a9992009fd1768dbddf3acefcad4ffb438866a881dc7beb178e",
}


def test_earlier_files_and_rows_are_unchanged(tmp_path):
    datagen.write(tmp_path)
    for folder in (task.DATA_DIR, tmp_path):
        for name, digest in PINNED_SHA256.items():
            assert hashlib.sha256((folder / f"{name}.jsonl").read_bytes()).hexdigest() == digest, (folder, name)
        for name, digest in PINNED_FIRST_120_SHA256.items():
            lines = (folder / f"{name}.jsonl").read_bytes().splitlines(keepends=True)
            assert len(lines) == 120 + datagen.SPLIT_EXTENSIONS[name], (folder, name)
            assert hashlib.sha256(b"".join(lines[:120])).hexdigest() == digest, (folder, name)
    assert set(task.SPLITS) == {*PINNED_SHA256, *PINNED_FIRST_120_SHA256}


def test_extensions_append_balanced_rows_with_ids_continuing():
    small = datagen.generate(sizes={"unseen": 8, "dev_unseen": 8}, extensions={"unseen": 8})
    assert [e["id"] for e in small["unseen"]] == [f"unseen-{i:04d}" for i in range(16)]
    assert len(small["dev_unseen"]) == 8
    assert Counter(e["severity"] for e in small["unseen"][8:]) == dict.fromkeys(task.SEVERITIES, 2)
    without = datagen.generate(sizes={"unseen": 8, "dev_unseen": 8}, extensions={})
    assert small["unseen"][:8] == without["unseen"] and small["dev_unseen"] == without["dev_unseen"]
    with pytest.raises(ParameterError, match="not generated"):
        datagen.generate(sizes={"eval": 4}, extensions={"unseen": 4})


def test_a_different_seed_gives_different_data(tmp_path):
    datagen.write(tmp_path, seed=1)
    assert (tmp_path / "eval.jsonl").read_bytes() != (task.DATA_DIR / "eval.jsonl").read_bytes()


def test_split_sizes_and_distinct_reports(splits):
    assert len(splits["sft"]) >= 400 and len(splits["prefs"]) >= 550 and len(splits["eval"]) >= 60
    reports = [e["report"] for rows in splits.values() for e in rows]
    assert len(reports) >= 1200
    assert len(set(reports)) == len(reports), "report text shared within or across splits"
    ids = [e["id"] for rows in splits.values() for e in rows]
    assert len(set(ids)) == len(ids)


def test_no_class_dominates_a_split(splits):
    for name, rows in splits.items():
        counts = Counter(e["severity"] for e in rows)
        assert set(counts) == set(task.SEVERITIES), name
        assert max(counts.values()) / len(rows) <= 0.35, (name, counts)


def test_hard_cases_are_in_every_split(splits):
    hard = {"data_loss_mild_words", "small_share_alarming_words", "internal_outage", "non_production",
            "recovered_job", "major_degradation_mild_words"}
    for name, rows in splits.items():
        assert hard <= {e["scenario"] for e in rows}, name
        assert sum(e["hard_case"] for e in rows) / len(rows) > 0.2


def test_variety(splits):
    rows = [e for r in splits.values() for e in r]
    assert len({e["component"] for e in rows}) >= 30
    assert len({e["scenario"] for e in rows}) >= 15
    starts = Counter(e["report"].split()[0] for e in rows)  # registers: alerts, tickets, chat, prose
    assert {"[ALERT]", "Ticket", "hey,", "CRITICAL:"} <= set(starts)


def test_gold_summaries_are_faithful(splits):
    """Every number and every hyphenated name in a gold summary appears in its report."""
    token = re.compile(r"\d+(?:\.\d+)?|[a-z0-9]+(?:-[a-z0-9]+)+")
    for e in (e for r in splits.values() for e in r):
        report = e["report"].lower()
        for t in token.findall(e["summary"].lower()):
            assert t in report, (e["id"], t)


def test_readme_documents_fields_and_rubric():
    text = (task.DATA_DIR / "README.md").read_text()
    for needle in ["severity", "component", "summary", "hard_case", "python -m helpers.datagen", *task.SEVERITIES]:
        assert needle in text
