"""benchmarks/quality_grid.py: its variant syntax and the select/report halves that keep the choice honest."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from embedtune.config import TrainingConfig

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "quality_grid.py"
_spec = importlib.util.spec_from_file_location("quality_grid", _PATH)
grid = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(grid)


def test_variant_text_maps_to_training_config_fields_and_a_validation_fraction():
    overrides, validation = grid.parse_variant("lr=5e-5,epochs=1,negatives=0,batch=64,validation=0")
    assert overrides == {"learning_rate": 5e-5, "epochs": 1, "use_negatives": False, "batch_size": 64}
    assert validation == 0.0
    assert TrainingConfig(**overrides).learning_rate == 5e-5
    assert grid.parse_variant("") == ({}, 0.1)


def test_select_and_report_halves_partition_the_claims_and_gains_are_per_half():
    base = {m: np.zeros(10) for m in ("ndcg@10", "mrr@10", "recall@10")}
    tuned = {m: np.array([1.0, 0.0] * 5) for m in base}  # gains only on even positions (the select half)
    summary = grid.summarise(base, tuned, seed=1)
    assert summary["select"]["gain"]["gain"] == pytest.approx(1.0)
    assert summary["report"]["gain"]["gain"] == pytest.approx(0.0)
    assert summary["all"]["gain"]["gain"] == pytest.approx(0.5)
    assert summary["all"]["ndcg@10"] == pytest.approx(0.5)


def test_markdown_names_the_best_variant_on_the_select_half_and_its_report_gain():
    def row(name, select, report):
        gain = {"gain": 0.0, "ci_low": 0.0, "ci_high": 0.0}
        scores = {"all": {"ndcg@10": 0.6, "gain": gain}, "select": {"gain": dict(gain, gain=select)},
                  "report": {"gain": dict(gain, gain=report)}}
        return {"pairs": name, "variant": "", "training": {"train_pairs": 3, "train_seconds": 1}, "scores": scores}

    result = {"date": "d", "command": "c", "machine": "m", "n_claims": 10, "n_corpus": 5,
              "base": {h: {"ndcg@10": 0.6} for h in ("all", "select", "report")},
              "rows": [row("a", 0.01, 0.02), row("b", 0.03, -0.01)]}
    text = grid.markdown(result)
    assert "Best on the select half: b / default" in text and "-0.0100" in text.splitlines()[-1]


def test_few_shot_claims_leave_every_half_without_shifting_the_others():
    base = {m: np.zeros(10) for m in ("ndcg@10", "mrr@10", "recall@10")}
    tuned = {m: np.array([1.0, 0.0] * 5) for m in base}
    tuned["ndcg@10"][0] = 100.0  # a few-shot claim would dominate if it were scored
    summary = grid.summarise(base, tuned, seed=1, excluded=frozenset({0}))
    assert summary["select"]["gain"]["gain"] == pytest.approx(1.0)  # positions 2, 4, 6, 8: still the select half
    assert summary["report"]["gain"]["gain"] == pytest.approx(0.0)
    assert summary["all"]["gain"]["gain"] == pytest.approx(4 / 9)


def test_a_generate_pairs_set_is_joined_with_the_corpus_and_names_its_few_shot_claims(tmp_path):
    import gzip
    import json

    rows = [{"id": "p1", "query": "a claim", "style": "claim", "positive_id": "d1", "doc_id": "d1"},
            {"id": "p2", "query": "gone", "style": "claim", "positive_id": "d9", "doc_id": "d9"}]
    (tmp_path / "set.jsonl.gz").write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    (tmp_path / "set.json").write_text(json.dumps({"settings": {"few_shot_query_ids": ["q0", "q2"]}}))
    pairs, few_shot = grid.read_pair_set(tmp_path / "set.jsonl.gz", {"d1": "Title d1. The abstract."})
    assert [(p["query"], p["positive"]) for p in pairs] == [("a claim", "Title d1. The abstract.")]
    assert few_shot == ["q0", "q2"]
    rows.append({"id": "p3", "query": "a question?", "style": "question", "positive_id": "d1", "doc_id": "d1"})
    (tmp_path / "set.jsonl.gz").write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    questions, _ = grid.read_pair_set(tmp_path / "set.jsonl.gz", {"d1": "T."}, frozenset({"question"}))
    assert [p["query"] for p in questions] == ["a question?"]


def test_pair_specs_parse_styles_size_and_word_overlap():
    assert grid.parse_pair_spec("v2=set.jsonl.gz#claim+question@300~0.8") == \
        ("v2", "set.jsonl.gz", frozenset({"claim", "question"}), 300, 0.8)
    assert grid.parse_pair_spec("x=a=b.jsonl") == ("x", "a=b.jsonl", frozenset(), None, None)


def test_teacher_keys_and_the_loss_parse_and_model_folders_are_safe_names():
    overrides, validation = grid.parse_variant("teacher=hybrid,negs=2,fnm=0.5,loss=mnrl+margin_mse,validation=0.2")
    assert overrides == {"teacher.kind": "hybrid", "teacher.negatives_per_query": 2,
                         "teacher.false_negative_margin": 0.5, "loss": "mnrl+margin_mse"}
    assert validation == 0.2
    assert grid.model_folder_name("llm v2", "teacher=hybrid,loss=mnrl+margin_mse") == \
        "llm-v2__teacher-hybrid_loss-mnrl-margin_mse"
    assert grid.model_folder_name("x", "") == "x__default"


def test_fusion_at_weight_zero_ranks_by_the_dense_scores_and_at_one_by_bm25():
    claims, corpus = {"q1": "a", "q2": "b"}, {"d1": "x", "d2": "y", "d3": "z"}
    qrels = {"q1": {"d1": 1}, "q2": {"d3": 1}}
    dense = np.array([[0.9, 0.1, 0.2], [0.1, 0.8, 0.3]])  # q1 right, q2 wrong
    bm25 = np.array([[0.0, 5.0, 1.0], [0.0, 1.0, 7.0]])  # q1 wrong, q2 right
    alone = grid.ranked_metrics(dense, claims, corpus, qrels)
    assert np.allclose(grid.fused_metrics(dense, bm25, 0.0, claims, corpus, qrels)["ndcg@10"], alone["ndcg@10"])
    assert alone["mrr@10"].tolist() == [1.0, pytest.approx(1 / 2)]
    assert grid.fused_metrics(dense, bm25, 1.0, claims, corpus, qrels)["mrr@10"].tolist() == [pytest.approx(1 / 3), 1.0]


def test_rounds_is_a_variant_key_and_fused_rows_get_their_own_table():
    overrides, _ = grid.parse_variant("teacher=hybrid,rounds=2")
    assert overrides == {"teacher.kind": "hybrid", "rounds": 2}
    gain = {"gain": 0.01, "ci_low": -0.01, "ci_high": 0.03}
    half = {"ndcg@10": 0.7, "gain": gain}
    scores = {h: half for h in ("all", "select", "report")}
    row = {"pairs": "p", "variant": "v", "training": {"train_pairs": 3, "train_seconds": 1}, "scores": scores,
           "fused": {"weight": 0.4, "vs_base": scores, "vs_base_hybrid": scores}}
    result = {"date": "d", "command": "c", "machine": "m", "n_claims": 10, "n_corpus": 5,
              "base": {h: {"ndcg@10": 0.6} for h in ("all", "select", "report")}, "rows": [row]}
    assert "| p | v | 0.4 | 0.7000 | +0.0100 [-0.0100, +0.0300] | +0.0100 |" in grid.markdown(result)


def test_merge_and_rule_are_variant_keys_and_interpolated_rows_get_their_own_table():
    overrides, _ = grid.parse_variant("teacher=hybrid,rule=one_se,merge=0.5")
    assert overrides == {"teacher.kind": "hybrid", "teacher.fusion_rule": "one_se", "merge_with_base": 0.5}
    assert TrainingConfig(merge_with_base=overrides["merge_with_base"]).merge_with_base == 0.5
    gain = {"gain": 0.02, "ci_low": 0.01, "ci_high": 0.03}
    scores = {h: {"ndcg@10": 0.7, "gain": gain} for h in ("all", "select", "report")}
    row = {"pairs": "p", "variant": "v", "training": {"train_pairs": 3, "train_seconds": 1}, "scores": scores,
           "interpolated": {"0.5": scores}}
    result = {"date": "d", "command": "c", "machine": "m", "n_claims": 10, "n_corpus": 5,
              "base": {h: {"ndcg@10": 0.6} for h in ("all", "select", "report")}, "rows": [row]}
    assert "| p | v | 0.5 | 0.7000 | +0.0200 [+0.0100, +0.0300] | +0.0200 | +0.0200 [+0.0100, +0.0300] |" \
        in grid.markdown(result)


def test_interpolated_scores_are_per_share_and_leave_the_model_as_it_came(tiny_model_dir):
    import torch
    from sentence_transformers import SentenceTransformer

    from embedtune.training.merging import snapshot

    model = SentenceTransformer(tiny_model_dir, device="cpu")
    base = snapshot(model)
    name = next(key for key, tensor in base.items() if tensor.is_floating_point())
    with torch.no_grad():
        model.state_dict()[name].add_(2.0)  # "training"
    tuned = model.state_dict()[name].clone()

    def first_weight(mixed):
        return float(mixed.state_dict()[name].flatten()[0] - base[name].flatten()[0])

    scored = grid.score_mixes(model, base, [0.0, 0.5, 1.0], first_weight)
    assert list(scored) == ["0", "0.5", "1"]
    assert scored["0"] == pytest.approx(0.0, abs=1e-5) and scored["0.5"] == pytest.approx(1.0, abs=1e-5)
    assert scored["1"] == pytest.approx(2.0, abs=1e-5)
    assert torch.equal(model.state_dict()[name], tuned)

    def failing(mixed):
        raise RuntimeError("scoring failed")

    with pytest.raises(RuntimeError):
        grid.score_mixes(model, base, [0.5], failing)
    assert torch.equal(model.state_dict()[name], tuned)  # restored on the error too


def test_chunk_mode_moves_positives_to_the_best_chunk_of_their_abstract_and_scores_by_the_best_chunk():
    chunks = [{"chunk_id": "a#0", "doc_id": "a", "text": "Vitamin D deficiency in elderly patients", "position": 0},
              {"chunk_id": "a#1", "doc_id": "a", "text": "bone fractures rose with low vitamin D", "position": 0},
              {"chunk_id": "b#0", "doc_id": "b", "text": "Statins lower cholesterol in adults", "position": 0}]
    pairs = [{"id": "1", "query": "low vitamin D raises fractures", "positive_id": "a", "positive": "whole a"},
             {"id": "2", "query": "statins and cholesterol", "positive_id": "b", "positive": "whole b"}]
    moved = grid.chunk_positives(pairs, chunks)
    assert [(p["positive_id"], p["positive"]) for p in moved] == [("a#1", chunks[1]["text"]), ("b#0", chunks[2]["text"])]
    assert pairs[0]["positive_id"] == "a"  # the input is left as it came
    scores = np.array([[0.1, 0.7, 0.3], [0.5, 0.2, 0.4]])
    assert grid.max_over_chunks(scores, chunks).tolist() == [[0.7, 0.3], [0.5, 0.4]]


def test_plot_draws_gain_against_pairs_from_grid_results(tmp_path):
    gain = {"gain": 0.01, "ci_low": -0.01, "ci_high": 0.03}
    rows = [{"variant": v, "training": {"train_pairs": n}, "scores": {"report": {"gain": gain}}}
            for v in ("", "teacher=hybrid") for n in (100, 200)]
    result = tmp_path / "grid.json"
    result.write_text(json.dumps({"rows": rows, "references": {"BM25": {"report": {"gain": gain}}}}))
    grid.plot([result], tmp_path / "scaling.png")
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_synthetic_validation_ndcg_ranks_all_passages_and_gets_its_own_table(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(tiny_model_dir, device="cpu")
    passages = [{"chunk_id": "a", "text": "vitamin D and bone fractures in the elderly"},
                {"chunk_id": "b", "text": "statins lower cholesterol in adults"},
                {"chunk_id": "c", "text": "wing flutter at supersonic speeds"}]
    validation = [{"id": "1", "query": "vitamin D and bone fractures in the elderly", "positive_id": "a"},
                  {"id": "2", "query": "wing flutter at supersonic speeds", "positive_id": "c"},
                  {"id": "3", "query": "no passage of its own", "positive_id": "zz"}]
    assert grid.synthetic_ndcg(model, validation, passages) == 1.0  # each query is its passage's own text
    swapped = [{**validation[0], "positive_id": "b"}, {**validation[1], "positive_id": "a"}]
    assert grid.synthetic_ndcg(model, swapped, passages) < 1.0
    assert grid.synthetic_ndcg(model, validation[2:], passages) is None
    scores = {h: {"ndcg@10": 0.7, "gain": {"gain": 0.0, "ci_low": 0.0, "ci_high": 0.0}} for h in ("all", "select", "report")}
    row = {"pairs": "p", "variant": "v", "scores": scores, "training": {
        "train_pairs": 3, "train_seconds": 1, "synthetic_validation_ndcg@10": {"base": 0.65, "tuned": 0.7, "teacher": 0.8}}}
    result = {"date": "d", "command": "c", "machine": "m", "n_claims": 10, "n_corpus": 5,
              "base": {h: {"ndcg@10": 0.6} for h in ("all", "select", "report")}, "rows": [row]}
    assert "| p | v | 0.65 | 0.7 | 0.8 |" in grid.markdown(result)


def test_real_queries_of_a_half_are_a_variant_key_and_that_half_is_marked_and_never_chosen_on():
    overrides, _ = grid.parse_variant("teacher=hybrid,real=select,synthetic=0")
    assert overrides == {"teacher.kind": "hybrid", "real": "select", "synthetic": 0}
    with pytest.raises(ValueError, match="the half whose query texts train"):
        grid.parse_variant("teacher=hybrid,real=all")

    def row(name, select, trained_on=None):
        gain = {"gain": select, "ci_low": 0.0, "ci_high": 0.0}
        scores = {h: {"ndcg@10": 0.6, "gain": gain} for h in ("all", "select", "report")}
        training = {"train_pairs": 3, "train_seconds": 1, **({"trained_on_half": trained_on} if trained_on else {})}
        return {"pairs": name, "variant": "", "training": training, "scores": scores}

    result = {"date": "d", "command": "c", "machine": "m", "n_claims": 10, "n_corpus": 5,
              "base": {h: {"ndcg@10": 0.6} for h in ("all", "select", "report")},
              "rows": [row("plain", 0.01), row("real", 0.09, "select")]}
    text = grid.markdown(result)
    assert "Best on the select half: plain" in text  # the row trained on the select half's queries is not a choice
    assert "+0.0900 (trained on its queries)" in text and "(half trained on)" in text
