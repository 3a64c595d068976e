"""What `run` says before (the duration estimate) and after (decision, significant dims, next steps, export)."""

from __future__ import annotations

import pytest

from embedtune.config import parse_parameters
from embedtune.reporting import summary


def gains(**by_dim: tuple[float, float, float]) -> dict:
    return {dim.lstrip("d"): {"ndcg@10": {"gain": g, "ci_low": low, "ci_high": high}}
            for dim, (g, low, high) in by_dim.items()}


def a_report(n_queries: int = 105, gold: dict | None = None, **by_dim) -> dict:
    by_dim = by_dim or {"d384": (0.035, -0.001, 0.074), "d256": (0.04, 0.01, 0.07), "d128": (0.01, -0.02, 0.04),
                        "d64": (0.05, 0.02, 0.08)}
    report = {"n_queries": n_queries, "models": {"tuned": {d.lstrip("d"): {} for d in by_dim}},
              "gains": {"tuned": gains(**by_dim)}}
    if gold is not None:
        report["gold"] = gold
    return report


NOT_SIGNIFICANT = {"promoted": False, "reason": "not promoted: NDCG@10 gain +0.0350 ... is not significant",
                   "decided_on": "synthetic", "stage": None, "incumbent": None, "incumbent_stage": None}


def test_dims_are_sorted_by_whether_their_gain_is_significant():
    report = a_report(d384=(0.03, -0.01, 0.07), d256=(0.04, 0.01, 0.07), d64=(-0.05, -0.08, -0.02))
    assert summary.dims_by_outcome(report) == {"better": [256], "worse": [64], "unclear": [384]}
    line = summary.significance_line(report, "105 held-out synthetic queries")
    assert "by Matryoshka dimension: 256; not significant: 384; significant losses: 64" in line


def test_an_unpromoted_run_says_so_names_its_significant_dims_and_what_to_try(tmp_path):
    config = parse_parameters({"training": {"epochs": 2}, "generation": {"max_chunks": 200}})
    lines = summary.end_summary(a_report(), NOT_SIGNIFICANT, "/store/tuned", tmp_path / "model", config)
    text = "\n".join(lines)
    assert lines[0] == "Decision: NOT promoted (the reason is above)."
    assert "on 105 held-out synthetic queries (95% CI above zero), by Matryoshka dimension: 256, 64; " \
           "not significant: 384, 128" in text
    assert "What to try next:" in text
    assert "The 256, 64-dim gains are significant" in text and "truncate_dim=256" in text
    assert "a gold set of 50+ real questions" in text  # decided on synthetic queries
    assert "generation.max_chunks above 200" in text and "training.epochs: 3" in text
    assert f"Tuned model exported to: {tmp_path / 'model'} (not promoted: it did not pass the gate" in text


def test_a_promoted_run_has_no_advice_and_a_plain_export_line(tmp_path):
    promotion = {**NOT_SIGNIFICANT, "promoted": True, "stage": "staging", "reason": "promoted to staging: ..."}
    lines = summary.end_summary(a_report(), promotion, "/store/tuned", tmp_path / "model")
    assert lines[0] == "Decision: promoted to staging."
    assert not any("What to try next" in line or "not promoted" in line for line in lines)
    assert lines[-1] == f"Tuned model exported to: {tmp_path / 'model'}"
    assert summary.end_summary(a_report(), promotion, "/store/tuned")[-1].startswith("Tuned model (artifact")


def test_no_gain_points_at_the_queries_the_teacher_and_the_base_model():
    report = a_report(d384=(-0.01, -0.04, 0.02), d64=(0.0, -0.03, 0.03))
    steps = summary.next_steps(report, {**NOT_SIGNIFICANT, "reason": "not promoted: ... does not exceed ..."})
    assert any("run.py samples" in step and "generation.corpus_description" in step for step in steps)
    assert any("teacher.kind: hybrid" in step for step in steps) and any("run.py compare" in step for step in steps)


def test_losing_only_to_the_incumbent_is_not_a_problem_to_fix():
    promotion = {"promoted": False, "incumbent": "3", "incumbent_stage": "staging", "decided_on": "gold",
                 "reason": "not promoted: beats the base (...) but not the current staging version 3 (...)"}
    gold = {"n_queries": 52, "models": {"tuned": {"384": {}}}, "gains": {"tuned": gains(d384=(0.06, 0.02, 0.1))}}
    steps = summary.next_steps(a_report(gold=gold), promotion)
    assert len(steps) == 1 and "not version 3, which keeps the staging" in steps[0]


def test_gold_decisions_are_read_on_the_gold_numbers():
    gold = {"n_queries": 52, "models": {"tuned": {"384": {}, "64": {}}},
            "gains": {"tuned": gains(d384=(0.02, -0.01, 0.05), d64=(0.04, 0.01, 0.07))}}
    promotion = {**NOT_SIGNIFICANT, "decided_on": "gold"}
    lines = summary.end_summary(a_report(gold=gold), promotion, "/store/tuned")
    assert "on 52 gold queries (95% CI above zero), by Matryoshka dimension: 64; not significant: 384" in lines[1]
    assert any("more gold questions narrow it" in line for line in lines)


@pytest.mark.parametrize(
    "generation, expected_rate",
    [
        ({"backend": "llamacpp"}, 21.0),
        ({"backend": "llamacpp", "llamacpp": {"model": "qwen2.5-coder-0.5b"}}, 45.0),
        ({"backend": "heuristic"}, 20000.0),
    ],
)
def test_the_estimate_uses_the_measured_default_of_the_configured_generator(generation, expected_rate):
    config = parse_parameters({"generation": {**generation, "queries_per_chunk": 2}, "training": {"epochs": 2},
                               "split": {"validation_fraction": 0.15, "test_fraction": 0.25}})
    estimate = summary.estimate_run(248, config)
    assert estimate.queries == 496 and estimate.pairs_per_minute == expected_rate
    assert estimate.generation_seconds == pytest.approx(496 / expected_rate * 60)
    # 496 queries * 0.93 kept * 0.6 train * 2 epochs / 2.7 pairs/s
    assert estimate.training_seconds == pytest.approx(496 * 0.93 * 0.6 * 2 / 2.7)
    assert "benchmarks/README.md" in estimate.describe() or generation["backend"] == "heuristic"


def test_the_default_run_is_estimated_near_its_measured_half_hour():
    """`make run` at 3bddafe: 248 chunks, 496 queries, ~24 min of generation, 29 min 56 s in all (README)."""
    config = parse_parameters({"generation": {"backend": "llamacpp", "queries_per_chunk": 2},
                               "training": {"epochs": 2}, "split": {"validation_fraction": 0.15, "test_fraction": 0.25}})
    estimate = summary.estimate_run(248, config)
    assert 22 <= estimate.generation_seconds / 60 <= 26
    assert 25 <= estimate.total_seconds / 60 <= 35
    line = estimate.describe()
    assert line.startswith("Estimated run time: ~")
    assert "496 queries for 248 chunks at ~21 pairs/min" in line and "reused from the cache" in line


def test_prompts_the_answer_store_holds_take_no_generation_time():
    config = parse_parameters({"generation": {"backend": "llamacpp", "queries_per_chunk": 2}})
    fresh, warm = summary.estimate_run(248, config), summary.estimate_run(248, config, answered_share=0.75)
    assert warm.generation_seconds == pytest.approx(fresh.generation_seconds / 4)
    assert warm.training_seconds == fresh.training_seconds and warm.queries == fresh.queries
    assert "75% of the prompts already answered in the answer store" in warm.describe()
    assert "answer store" not in fresh.describe()


def test_max_chunks_caps_the_generated_queries_and_generate_has_no_training():
    config = parse_parameters({"generation": {"backend": "llamacpp", "max_chunks": 200}})
    estimate = summary.estimate_run(832, config, trains=False)
    assert estimate.queries == 400 and estimate.training_seconds == 0
    assert "(a seeded 200 of 832 chunks)" in estimate.describe() and "training" not in estimate.describe()


def test_this_machines_measured_speed_wins_when_the_generator_matches():
    generation = parse_parameters({"generation": {"backend": "llamacpp"}}).generation
    records = [
        {"backend": "heuristic", "generator": "heuristic", "pairs_per_minute": 9000.0, "chunks": 50},
        {"backend": "llamacpp", "generator": "llamacpp:qwen2.5-coder-0.5b-instruct-q4_k_m", "pairs_per_minute": 50.0,
         "chunks": 50},
        {"backend": "llamacpp", "generator": "llamacpp:qwen2.5-coder-1.5b-instruct-q4_k_m", "pairs_per_minute": 99.0,
         "chunks": 50, "resumed_answers": 30},
        {"backend": "llamacpp", "generator": "llamacpp:qwen2.5-coder-1.5b-instruct-q4_k_m", "pairs_per_minute": 1498.4,
         "chunks": 377, "reused_answers": 742},
        {"backend": "llamacpp", "generator": "llamacpp:qwen2.5-coder-1.5b-instruct-q4_k_m", "pairs_per_minute": 3.0,
         "chunks": 2},
        {"backend": "llamacpp", "generator": "llamacpp:qwen2.5-coder-1.5b-instruct-q4_k_m", "pairs_per_minute": 17.5,
         "chunks": 100, "prompt_mode": "per_query"},
    ]
    assert summary.measured_speed(records, generation) == 17.5  # other model, resumed, reused, too few chunks skipped
    assert summary.measured_speed(records[:2], generation) is None
    estimate = summary.estimate_run(100, parse_parameters({"generation": {"backend": "llamacpp"}}), 17.5)
    assert "17.5 pairs/min, this machine's speed in an earlier run" in estimate.describe()


def test_chunks_are_counted_exactly_for_a_small_corpus_and_scaled_from_a_sample_for_a_large_one(minilm_path):
    from embedtune.config import ChunkingConfig
    from embedtune.data.chunking import chunk_documents
    from embedtune.models.loading import load_tokenizer
    from tests.conftest import TOPICS

    tokenizer = load_tokenizer(minilm_path)
    chunking = ChunkingConfig(chunk_tokens=32, overlap_tokens=4)
    documents = [{"doc_id": f"{name}{i}", "source": f"{name}{i}.md", "title": name, "text": (text + " ") * (1 + i % 4)}
                 for i in range(40) for name, text in TOPICS.items()]
    exact = len(chunk_documents(documents, tokenizer, chunking))
    assert summary.count_chunks(documents[:30], tokenizer, chunking) == len(chunk_documents(documents[:30], tokenizer,
                                                                                             chunking))
    assert summary.count_chunks(documents, tokenizer, chunking, sample=60) == pytest.approx(exact, rel=0.15)


def test_parallel_decoding_speeds_the_estimate_and_only_matches_runs_with_the_same_parallel():
    one = parse_parameters({"generation": {"backend": "llamacpp"}})
    eight = parse_parameters({"generation": {"backend": "llamacpp", "llamacpp": {"parallel": 8}}})
    assert summary.estimate_run(100, eight).generation_seconds == pytest.approx(
        summary.estimate_run(100, one).generation_seconds / summary.PARALLEL_SPEEDUP)
    assert "parallel decoding" in summary.estimate_run(100, eight).describe()
    record = {"backend": "llamacpp", "generator": "llamacpp:qwen2.5-coder-1.5b-instruct-q4_k_m",
              "pairs_per_minute": 17.5, "chunks": 100, "prompt_mode": "per_query"}
    assert summary.measured_speed([record], one.generation) == 17.5  # runs before `parallel` was logged: 1
    assert summary.measured_speed([record], eight.generation) is None
    assert summary.measured_speed([{**record, "parallel": 8, "pairs_per_minute": 24.0}], eight.generation) == 24.0
