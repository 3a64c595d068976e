"""Data views: the seeded pair sample and the funnel."""

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


def test_funnel_counts_follow_pipeline_order_and_skip_missing_stages():
    counts = visualization.funnel_counts(chunks=[1] * 20, documents=[1] * 4, training_triplets=[1] * 30,
                                         train=[1] * 20, validation=[1] * 4, test=[1] * 6)
    assert counts == [("documents", 4), ("chunks", 20), ("triplets (hard negatives mined)", 30),
                      ("train", 20), ("validation", 4), ("test", 6)]


def test_funnel_html_shows_each_stage_and_split_shares_of_the_triplets():
    page = visualization.funnel_html([("documents", 4), ("chunks", 20), ("generated pairs", 40),
                                      ("kept by the filters", 30), ("triplets (hard negatives mined)", 30),
                                      ("train", 20), ("validation", 4), ("test", 6)])
    assert "500% of documents" in page and "75% of generated pairs" in page
    assert "67% of triplets (hard negatives mined)" in page and "20% of triplets (hard negatives mined)" in page
