"""Data views: the seeded pair sample (source paths, passages from a whole word) and the funnel in plain words."""

from embedtune.reporting import data as visualization


def test_pairs_sample_is_seeded_escaped_and_marks_kept_pairs():
    pairs = [
        {"id": f"p{i}", "query": f"query <{i}>", "positive": "passage " * 100, "doc_id": "d", "style": "question",
         "generator": "heuristic", "prompt_version": "heuristic-v1"}
        for i in range(30)
    ]
    page = visualization.pairs_sample_html(pairs, kept_ids={"p1", "p2"}, count=25, seed=3)
    assert page == visualization.pairs_sample_html(pairs, kept_ids={"p1", "p2"}, count=25, seed=3)
    assert page.count("<tr>") == 26 and "25 of 30 generated pairs" in page
    assert "query &lt;" in page and "query <" not in page
    assert "heuristic (prompt heuristic-v1)" in page and "class='kept'" in page and "class='dropped'" in page
    assert " ..." in page  # long passages are cut


def test_pairs_sample_names_the_source_path_and_starts_passages_on_a_whole_word():
    chunks = [
        {"chunk_id": "c0", "doc_id": "hash1", "source": "docs/guide/setup.md", "position": 0,
         "text": "Install the package. Configuration lives in settings.yaml files"},
        {"chunk_id": "c1", "doc_id": "hash1", "source": "docs/guide/setup.md", "position": 1,
         "text": "uration lives in settings.yaml files next to the code."},
    ]
    pair = {"id": "p", "query": "where is the config", "positive": chunks[1]["text"], "positive_id": "c1",
            "doc_id": "hash1", "style": "question"}
    page = visualization.pairs_sample_html([pair], chunks=chunks)
    assert "docs/guide/setup.md" in page and "hash1" not in page
    assert "... lives in settings.yaml" in page and "uration" not in page


def test_a_chunk_that_starts_on_a_word_is_left_alone():
    assert visualization.from_word_boundary("lives in settings", "Configuration lives in settings") == "lives in settings"
    assert visualization.from_word_boundary("first chunk text", None) == "first chunk text"


def test_funnel_counts_follow_pipeline_order_and_skip_missing_stages():
    counts = visualization.funnel_counts(chunks=[1] * 20, documents=[1] * 4, training_triplets=[1] * 30,
                                         train=[1] * 20, validation=[1] * 4, test=[1] * 6)
    assert counts == [("documents", 4), ("chunks", 20), ("triplets (hard negatives mined)", 30),
                      ("train", 20), ("validation", 4), ("test", 6)]


def test_funnel_reads_in_plain_numbers_never_as_a_share_above_100_percent():
    counts = [("documents", 4), ("chunks", 48), ("generated pairs", 96), ("kept by the filters", 80),
              ("triplets (hard negatives mined)", 80), ("train", 56), ("validation", 8), ("test", 16)]
    notes = {stage: note for stage, _, note in visualization.funnel_lines(counts)}
    assert notes["chunks"] == "12.0 per document" and notes["generated pairs"] == "2.0 per chunk"
    assert notes["kept by the filters"] == "83% of 96 (16 dropped)"
    assert notes["triplets (hard negatives mined)"] == "100% of 80"
    assert notes["train"] == "70% of the 80 split pairs" and notes["test"] == "20% of the 80 split pairs"
    page = visualization.funnel_html(counts)
    assert "1200%" not in page and "12.0 per document" in page


def test_pairs_sample_shows_the_passage_heading_path_after_its_source():
    chunk = {"chunk_id": "c0", "doc_id": "d", "source": "docs/training.md", "position": 0,
             "headings": "Training > Large models > LoRA", "text": "LoRA trains adapters."}
    pair = {"id": "p", "query": "what does lora train", "positive": chunk["text"], "positive_id": "c0", "doc_id": "d"}
    page = visualization.pairs_sample_html([pair], chunks=[chunk])
    assert "docs/training.md › Training &gt; Large models &gt; LoRA" in page
    assert visualization.location("docs/a.md") == "docs/a.md"
