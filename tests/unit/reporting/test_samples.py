"""The markdown sample of generated pairs marks the filters' verdicts and names its command."""

from embedtune.generation import GeneratedQuery
from embedtune.generation.filters import build_pairs

PASSAGE = (
    "ZenML caches a step when its code, parameters and inputs are unchanged, so a second run of the same "
    "pipeline finishes in seconds and reuses every artifact from the first run."
)


CHUNKS = [{"chunk_id": "c1", "doc_id": "d1", "text": PASSAGE, "title": "Caching"}]


def generated(query, chunk="c1", style="question"):
    return GeneratedQuery(chunk_id=chunk, query=query, style=style, generator="fake", prompt_version="t", raw=str(query))


def test_sample_markdown_marks_filter_verdicts_and_names_the_command():
    from embedtune.reporting.samples import pairs_markdown

    rows = build_pairs([generated(f"question number {i} about caching") for i in range(5)] + [generated(None)], CHUNKS)
    text = pairs_markdown(rows, {rows[0]["id"]}, n=6, seed=1, command="python run.py samples", source="docs")
    assert text.startswith("# 6 generated pairs from docs")
    assert "`python run.py samples`" in text and "1 of 6 kept" in text
    assert text.count("dropped by filters") == 5 and "(unparsed:" in text
