"""Teacher labels: candidates skip the positive, false negatives are dropped, margins are scaled, and the
fusion weight is chosen on the validation pairs only."""

import numpy as np
import pytest

from embedtune import EmbedtuneError
from embedtune.config import TeacherConfig
from embedtune.teacher import labels
from embedtune.teacher.labels import dense_candidates, label_pairs

TOPICS = ["aspirin fever", "wing lift", "tomato plants", "index funds", "neutron stars", "sourdough bread"]


def corpus():
    chunks = []
    for d, topic in enumerate(TOPICS):
        for position in range(3):
            chunks.append({"chunk_id": f"c{d}-{position}", "doc_id": f"d{d}", "position": position,
                           "text": f"{topic} notes part {position}: {topic} facts number {position * 7 + d}"})
    return chunks


def pairs(chunks, prefix):
    return [{"id": f"{prefix}{i}", "query": f"facts about {chunk['text'].split(' notes')[0]} {i}",
             "positive": chunk["text"], "positive_id": chunk["chunk_id"], "doc_id": chunk["doc_id"]}
            for i, chunk in enumerate(chunks)]


def test_dense_candidates_skip_the_positive_and_its_neighbours():
    chunks = corpus()
    vectors = np.eye(len(chunks), dtype=np.float32)
    queries = vectors[[1]] + 0.1
    chosen = dense_candidates(queries / np.linalg.norm(queries), vectors, [1], chunks, depth=20)[0]
    assert 1 not in chosen and 0 not in chosen and 2 not in chosen  # same document, adjacent positions
    assert len(chosen) == len(chunks) - 3


@pytest.fixture(scope="module")
def labelled(tiny_model_dir):
    from embedtune.models.loading import load_embedder

    chunks = corpus()
    model = load_embedder(tiny_model_dir)
    train, validation = pairs(chunks[::2], "t"), pairs(chunks[1::2], "v")
    config = TeacherConfig(kind="hybrid", candidates=6, negatives_per_query=2)
    rows, report = label_pairs(train, validation, chunks, model, config)
    return train, rows, report, model, chunks


def test_rows_carry_negatives_labels_and_the_report_says_what_was_chosen(labelled):
    train, rows, report, _, _ = labelled
    assert {row["id"] for row in rows} == {p["id"] for p in train}
    assert all(sum(row["id"] == p["id"] for row in rows) <= 2 for p in train)
    for row in rows:
        if row["label"] is not None:
            assert row["negative_id"] != row["positive_id"] and row["teacher_margin"] > 0  # margin 0 drops ties
            assert row["label"] == pytest.approx(row["teacher_margin"] * report["label_scale"], rel=1e-4)
    assert report["validation_queries"] == 9 and 0 <= report["fusion_weight"] <= 1
    assert report["teacher_ndcg_at_10"] == max(report["fusion_table"].values())
    assert report["fusion_table"][f"{report['fusion_weight']:.1f}"] == report["teacher_ndcg_at_10"]


def test_labels_match_the_spread_of_the_base_margins(labelled):
    _, rows, _, _, _ = labelled
    done = [row for row in rows if row["label"] is not None]
    assert np.std([r["label"] for r in done]) == pytest.approx(np.std([r["base_margin"] for r in done]), rel=1e-4)


def test_a_higher_false_negative_margin_drops_more_candidates(labelled, monkeypatch):
    train, _, report, model, chunks = labelled
    strict = TeacherConfig(kind="hybrid", candidates=6, negatives_per_query=2, fusion_weight=report["fusion_weight"],
                           false_negative_margin=1.0, label_scale=2.0)
    rows, strict_report = label_pairs(train, [], chunks, model, strict)
    assert strict_report["false_negatives_dropped"] > report["false_negatives_dropped"]
    assert strict_report["label_scale"] == 2.0 and "fusion_table" not in strict_report  # weight given, not chosen
    assert all(row["label"] is None or row["teacher_margin"] >= 1.0 for row in rows)


def test_the_weight_is_chosen_on_validation_only(labelled, monkeypatch):
    train, _, _, model, chunks = labelled
    seen = {}

    def spy(dense, lexical, relevant, weights, rule):
        seen["queries"] = dense.shape[0]
        return 0.5, {w: 0.0 for w in weights}

    monkeypatch.setattr(labels, "choose_weight", spy)
    label_pairs(train, pairs(chunks[:4], "v"), chunks, model, TeacherConfig(kind="hybrid"))
    assert seen["queries"] == 4
    with pytest.raises(EmbedtuneError, match="no validation pairs"):
        label_pairs(train, [], chunks, model, TeacherConfig(kind="hybrid"))


def test_listwise_all_keeps_every_candidate_and_its_label_on_the_first_row(labelled, tmp_path):
    import pandas as pd

    from embedtune.training.losses import listed
    from embedtune.util.frames import to_records

    train, rows, report, model, chunks = labelled
    config = TeacherConfig(kind="hybrid", candidates=6, negatives_per_query=3, fusion_weight=report["fusion_weight"],
                           false_negative_margin=1.0, listwise_candidates="all")  # drops most negatives as false
    labelled_rows, listed_report = label_pairs(train, [], chunks, model, config)
    assert not any(listed(row) for row in rows)  # checked (the default): no list
    # the step's artifact is a parquet table: the lists come back as arrays, the other rows' as None
    pd.DataFrame(labelled_rows).to_parquet(tmp_path / "rows.parquet")
    back = to_records(pd.read_parquet(tmp_path / "rows.parquet"))
    firsts = {}
    for row in back:
        firsts.setdefault(row["id"], row)
    assert all(len(listed(row)) == 3 for row in firsts.values())
    assert sum(bool(listed(row)) for row in back) == len(train)  # the first row of each pair only
    checked = {(row["id"], row["negative"]): row["label"] for row in labelled_rows if row["label"] is not None}
    labels_seen = [label for row in firsts.values() for _, label in listed(row)]
    assert any(label < 1.0 * listed_report["label_scale"] for label in labels_seen)  # a "false negative" is listed
    for row in firsts.values():
        for text, label in listed(row):
            if (row["id"], text) in checked:  # a checked negative has the same label in both places
                assert label == pytest.approx(checked[(row["id"], text)])


def test_real_queries_take_the_teachers_first_answer_as_their_positive(labelled):
    train, _, _, model, chunks = labelled
    config = TeacherConfig(kind="hybrid", candidates=6, negatives_per_query=2, fusion_weight=1.0)  # BM25 alone
    real = ["sourdough bread number 19", "wing lift number 15"]  # c5-2 and c1-2 hold those numbers
    rows, report = label_pairs(train, [], chunks, model, config, real_queries=real)
    got = {row["query"]: row for row in rows if row["origin"] == "real_query"}
    assert {query: row["positive_id"] for query, row in got.items()} == {real[0]: "c5-2", real[1]: "c1-2"}
    assert all(row["negative_id"] not in (None, row["positive_id"]) and row["label"] > 0 for row in got.values())
    assert report["real_queries"] == 2 and report["pairs"] == len(train) + 2
    assert {row["origin"] for row in rows if row["query"] not in real} == {"generated"}
    alone, _ = label_pairs([], [], chunks, model, config, real_queries=real[:1])  # no generated pairs at all
    assert {row["positive_id"] for row in alone} == {"c5-2"}


def test_a_real_querys_passages_are_scored_by_the_teacher_once(labelled, monkeypatch):
    from embedtune.teacher.scoring import HybridTeacher

    _, _, _, model, chunks = labelled
    asked: list[tuple[str, int]] = []
    score = HybridTeacher.score

    def counting(self, queries, candidates):
        asked.extend((query, int(index)) for query, chosen in zip(queries, candidates) for index in chosen)
        return score(self, queries, candidates)

    monkeypatch.setattr(HybridTeacher, "score", counting)
    config = TeacherConfig(kind="hybrid", candidates=6, negatives_per_query=2, fusion_weight=1.0)
    rows, _ = label_pairs([], [], chunks, model, config, real_queries=["sourdough bread number 19"])
    assert rows and {row["positive_id"] for row in rows} == {"c5-2"}
    assert len(asked) == len(set(asked))  # the pool's scores serve again for the positive and the negatives


def test_pairs_outside_the_corpus_are_refused(labelled):
    train, _, _, model, chunks = labelled
    with pytest.raises(EmbedtuneError, match="not in the corpus"):
        label_pairs([{**train[0], "positive_id": "nope"}], [], chunks, model, TeacherConfig(kind="hybrid"))


def test_a_dense_model_replaces_the_base_model_in_the_hybrid(labelled, minilm_path):
    from embedtune.models.encoding import encode
    from embedtune.models.loading import load_embedder
    from embedtune.teacher.fusion import standardise

    train, _, _, model, chunks = labelled
    config = TeacherConfig(kind="hybrid", candidates=6, negatives_per_query=2, fusion_weight=0.0,
                           dense_model=minilm_path, false_negative_margin=-100.0)
    rows, report = label_pairs(train, [], chunks, model, config)
    assert minilm_path in report["teacher"]
    index_of = {chunk["chunk_id"]: i for i, chunk in enumerate(chunks)}
    texts = [chunk["text"] for chunk in chunks]

    def margins(embedder):  # weight 0: the teacher is its dense half's per-query z-scored cosine
        z = standardise(encode(embedder, [row["query"] for row in rows]) @ encode(embedder, texts).T)
        return np.array([z[i, index_of[r["positive_id"]]] - z[i, index_of[r["negative_id"]]]
                         for i, r in enumerate(rows)])

    labelled_margins = np.array([row["teacher_margin"] for row in rows])
    assert labelled_margins == pytest.approx(margins(load_embedder(minilm_path)), abs=1e-4)
    assert not np.allclose(labelled_margins, margins(model), atol=1e-3)  # not the student's own


def test_a_dense_model_with_its_own_code_loads_only_with_the_runs_opt_in(labelled, tiny_model_dir, tmp_path,
                                                                          monkeypatch):
    import json
    import shutil

    from embedtune.models import loading

    train, _, _, model, chunks = labelled
    folder = tmp_path / "remote-code-embedder"
    shutil.copytree(tiny_model_dir, folder)
    config_file = folder / "config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "auto_map": {"AutoModel": "x.Model"}}))
    config = TeacherConfig(kind="hybrid", candidates=6, negatives_per_query=2, fusion_weight=0.0, dense_model=str(folder))
    with pytest.raises(EmbedtuneError, match="model.trust_remote_code: true"):
        label_pairs(train, [], chunks, model, config)
    opted: list[bool] = []
    monkeypatch.setattr(loading, "load_embedder",
                        lambda *a, trust_remote_code=False, **k: opted.append(trust_remote_code) or model)
    rows, _ = label_pairs(train, [], chunks, model, config, trust_remote_code=True)
    assert opted == [True] and rows


def test_a_dense_model_belongs_to_the_hybrid_only():
    with pytest.raises(ValueError, match="dense_model"):
        TeacherConfig(kind="cross_encoder", cross_encoder="x", dense_model="all-mpnet-base-v2")


def test_base_misses_keeps_the_pairs_the_teacher_gets_right_and_the_base_model_wrong():
    corpus_vectors = np.eye(3, dtype=np.float32)  # positive 0, candidates 1 and 2
    query = np.array([0.5, 0.8, 0.1], dtype=np.float32)  # the base model ranks candidate 1 above the positive
    teacher_right, teacher_wrong = np.array([2.0, 1.0, 0.5]), np.array([1.0, 1.5, 0.5])
    assert labels._base_miss_teacher_hit(query, corpus_vectors, 0, [1, 2], teacher_right)
    assert not labels._base_miss_teacher_hit(query, corpus_vectors, 0, [1, 2], teacher_wrong)
    easy = np.array([0.9, 0.3, 0.1], dtype=np.float32)  # the base model already ranks the positive first
    assert not labels._base_miss_teacher_hit(easy, corpus_vectors, 0, [1, 2], teacher_right)
    assert not labels._base_miss_teacher_hit(query, corpus_vectors, 0, [], np.array([1.0]))


def test_keep_base_misses_leaves_the_other_pairs_out_but_keeps_real_queries(labelled, monkeypatch):
    train, _, report, model, chunks = labelled
    chosen = {p["positive_id"] for p in train[::2]}
    monkeypatch.setattr(labels, "_base_miss_teacher_hit",
                        lambda vector, corpus_vectors, positive, *_: chunks[positive]["chunk_id"] in chosen)
    config = TeacherConfig(kind="hybrid", candidates=6, negatives_per_query=2, fusion_weight=1.0,
                           keep_pairs="base_misses")
    rows, kept = label_pairs(train, [], chunks, model, config, real_queries=["wing lift number 15"])
    ids = {row["id"] for row in rows}
    assert ids == {p["id"] for p in train[::2]} | {"real-0"}  # a real query is kept whatever the base model does
    assert kept["pairs_left_out"] == len(train) - len(train[::2]) and kept["pairs"] == len(train[::2]) + 1
    assert "pairs_left_out" not in report  # keep_pairs all: nothing left out, nothing reported
