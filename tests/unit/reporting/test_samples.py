"""The markdown sample of generated pairs marks the filters' verdicts and names its command."""

from embedtune.generation.filters import build_pairs
from tests.unit.samples import CHUNKS, generated


def test_sample_markdown_marks_filter_verdicts_and_names_the_command():
    from embedtune.reporting.samples import pairs_markdown

    rows = build_pairs([generated(f"question number {i} about caching") for i in range(5)] + [generated(None)], CHUNKS)
    text = pairs_markdown(rows, {rows[0]["id"]}, n=6, seed=1, command="python run.py samples", source="docs")
    assert text.startswith("# 6 generated pairs from docs")
    assert "`python run.py samples`" in text and "1 of 6 kept" in text
    assert text.count("dropped by filters") == 5 and "(unparsed:" in text


def test_sample_markdown_names_each_passage_by_source_and_heading_path():
    from embedtune.reporting.samples import pairs_markdown

    chunks = [{**CHUNKS[0], "source": "docs/caching.md", "position": 0, "headings": "Guide > Caching > Steps"}]
    rows = build_pairs([generated("when does zenml reuse a step")], CHUNKS)
    text = pairs_markdown(rows, set(), n=1, seed=1, command="python run.py samples", source="docs", chunks=chunks)
    assert "`docs/caching.md` › Guide > Caching > Steps" in text
    old = pairs_markdown(rows, set(), n=1, seed=1, command="c", source="docs", chunks=[{**chunks[0], "headings": None}])
    assert "`docs/caching.md`*" in old and "›" not in old  # chunks made before heading paths: the source alone
