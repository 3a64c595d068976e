"""benchmarks/ict_pairs.py: a sentence cut out of its document is the query, the rest is the positive."""

from __future__ import annotations

import gzip
import importlib.util
import json
import random
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "ict_pairs.py"
_spec = importlib.util.spec_from_file_location("ict_pairs", _PATH)
ict = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ict)

ABSTRACT = (
    "Obesity is common in adults. We recruited 300 patients from two clinics in 2010 and followed them. "
    "Blood pressure was measured twice, at 9.5 vs. 10 a.m. on each visit by the same nurse. "
    "Weight loss of five percent lowered systolic blood pressure in most of the treated patients."
)


def test_sentences_split_at_capitals_but_not_after_abbreviations():
    parts = ict.sentences(ABSTRACT)
    assert len(parts) == 4 and parts[2].startswith("Blood pressure") and "vs. 10 a.m." in parts[2]


def test_the_query_is_a_later_sentence_and_is_no_longer_in_its_positive():
    pair = ict.ict_pair("d1", "A trial of weight loss", ABSTRACT, random.Random(0))
    assert pair["query"] in ict.sentences(ABSTRACT)[2:]  # second half, never the background sentence
    assert pair["query"] not in pair["positive"] and pair["positive"].startswith("A trial of weight loss")
    assert ict.ict_pair("d2", "t", "Too short. Also short.", random.Random(0)) is None


def test_the_written_set_carries_provenance_and_reads_back_in_the_quality_grid(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"_id": f"d{i}", "title": f"Weight loss trial number {i}", "text": ABSTRACT} for i in range(5)]
    corpus.write_text("\n".join(json.dumps(row) for row in rows))
    out = tmp_path / "sets" / "ict"
    monkeypatch.setattr(sys, "argv", ["ict_pairs.py", "--benchmark", str(tmp_path), "--kind", "sentence",
                                      "--kind", "title", "--documents", "3", "--out", str(out)])
    ict.main()
    with gzip.open(tmp_path / "sets" / "ict.jsonl.gz", "rt") as handle:
        pairs = [json.loads(line) for line in handle]
    assert len(pairs) == 6 and {p["style"] for p in pairs} == {"ict-sentence", "ict-title"}
    assert all(p["prompt_version"] == "ict-v1" and p["seed"] == 42 for p in pairs)
    assert json.loads((tmp_path / "sets" / "ict.json").read_text())["pairs"] == 6

    spec = importlib.util.spec_from_file_location("quality_grid", _PATH.with_name("quality_grid.py"))
    grid = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grid)
    read, few_shot = grid.read_pair_set(tmp_path / "sets" / "ict.jsonl.gz", {r["_id"]: ABSTRACT for r in rows})
    assert few_shot == [] and [p["positive"] for p in read] == [p["positive"] for p in pairs]  # their own positives
