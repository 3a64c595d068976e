"""Training: columns, the tiny model trains and selects on validation, prompts, dims, GPU precision."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embedtune import EmbedtuneError
from embedtune.config import ModelConfig, TrainingConfig, parse_parameters
from embedtune.models.loading import load_embedder
from embedtune.training.losses import training_columns
from embedtune.training.trainer import train_embedder


def test_training_uses_the_prompts_the_base_model_was_loaded_with(monkeypatch, tiny_model_dir):
    from embedtune.models.spec import resolve_spec
    from embedtune.training import trainer as training

    seen = {}

    def stop(validation, chunks, config, query_prompt, document_prompt):
        seen["prompts"] = (query_prompt, document_prompt)
        raise RuntimeError("stop before training")

    monkeypatch.setattr(training, "validation_evaluator", stop)
    pairs = [{"query": f"q{i}", "positive": f"p{i}", "positive_id": f"c{i}", "id": f"i{i}"} for i in range(4)]
    spec = resolve_spec(tiny_model_dir, "search_query: ", "search_document: ")
    config = ModelConfig(base_model=tiny_model_dir, matryoshka_dims=[64, 32])
    with pytest.raises(RuntimeError, match="stop before training"):
        training.train_embedder(load_embedder(spec), pairs, pairs, [], config, TrainingConfig())
    assert seen["prompts"] == ("search_query: ", "search_document: ")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; this machine has none")
def test_training_on_a_gpu_uses_mixed_precision_and_reports_peak_memory(tiny_model_dir):
    from embedtune.training import trainer as training

    config = parse_parameters({
        "model": {"base_model": tiny_model_dir, "matryoshka_dims": [64, 32]},
        "training": {"epochs": 1, "batch_size": 8, "mini_batch_size": 4},
    })
    pairs = [
        {"id": f"q{i}", "query": f"question number {i} about topic {i % 7}", "positive": f"passage {i} on topic {i % 7}",
         "positive_id": f"c{i}", "negative": None, "doc_id": f"d{i}"}
        for i in range(32)
    ]
    model = load_embedder(tiny_model_dir, device="cuda")
    result = training.train_embedder(model, pairs, [], [], config.model, config.training)
    assert result.metrics["device"].startswith("cuda")
    assert result.metrics["precision"] == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    assert result.metrics["peak_gpu_memory_gb"] > 0


TOPICS = ["kubernetes pods", "sourdough bread", "neutron stars", "tomato plants", "index funds", "sicilian defence",
          "python packaging", "rust borrow checker"]


def make_pairs(n: int, doc_prefix: str = "d"):
    pairs = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        pairs.append({
            "id": f"{doc_prefix}{i}", "doc_id": f"{doc_prefix}{i % 4}", "query": f"what about {topic} {i}",
            "positive": f"A passage on {topic}, item {i}.", "positive_id": f"c{doc_prefix}{i}",
            "negative": f"A passage on {TOPICS[(i + 1) % len(TOPICS)]}, item {i}.",
        })
    return pairs


def chunks_for(pairs):
    return [{"chunk_id": p["positive_id"], "text": p["positive"]} for p in pairs]


def test_training_columns_fill_missing_negatives_with_other_positives():
    pairs = make_pairs(6)
    pairs[2]["negative"] = None
    columns = training_columns(pairs, use_negatives=True)
    assert list(columns) == ["anchor", "positive", "negative"]
    assert columns["negative"][2] and columns["negative"][2] != pairs[2]["positive"]
    assert "negative" not in training_columns(pairs, use_negatives=False)


def test_tiny_model_trains_selects_on_validation_and_changes_weights(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(tiny_model_dir)
    before = model.encode(["what about neutron stars"])
    train, validation = make_pairs(64), make_pairs(8, doc_prefix="v")
    result = train_embedder(
        model, train, validation, chunks_for(train + validation),
        ModelConfig(base_model=tiny_model_dir, matryoshka_dims=[64, 32]),
        TrainingConfig(epochs=1, batch_size=16, mini_batch_size=8, learning_rate=1e-3),
    )
    after = result.model.encode(["what about neutron stars"])
    assert not np.allclose(before, after)
    assert result.metrics["train_pairs"] == 64 and result.metrics["uses_negatives"] is True
    history = result.metrics["log_history"]  # the report's training curves
    assert history and all("step" in entry for entry in history)
    assert any("loss" in entry for entry in history) and any("eval_validation_cosine_ndcg@10" in e for e in history)
    assert np.isfinite(result.metrics["train_loss"])
    assert 0.0 <= result.metrics["best_validation_ndcg@10"] <= 1.0


def test_matryoshka_dims_larger_than_the_model_are_rejected(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    with pytest.raises(EmbedtuneError, match="exceed the model's dimension 64"):
        train_embedder(
            SentenceTransformer(tiny_model_dir), make_pairs(8), [], [],
            ModelConfig(base_model=tiny_model_dir, matryoshka_dims=[384, 64]), TrainingConfig(),
        )


def teacher_rows(pairs):
    """Two labelled rows per pair (as embedtune.teacher.labels makes them), one pair left without a negative."""
    rows = []
    for i, pair in enumerate(pairs):
        if i == 0:
            rows.append({**pair, "negative": None, "negative_id": None, "label": None})
            continue
        for k in range(2):
            rows.append({**pair, "negative": f"{pair['negative']} ({k})", "negative_id": f"n{i}-{k}",
                         "label": 0.1 * (k + 1)})
    return rows


def test_distillation_columns_and_one_row_per_query():
    from embedtune.training.losses import distillation_columns, one_row_per_query

    rows = teacher_rows(make_pairs(4))
    columns = distillation_columns(rows)  # one row per query with a negative, its margins as a list
    assert list(columns) == ["anchor", "positive", "negative_1", "negative_2", "label"]
    assert columns["anchor"] == [pair["query"] for pair in make_pairs(4)[1:]]
    assert columns["label"] == [[0.1, 0.2]] * 3 and columns["negative_2"][0].endswith("(1)")
    fewer = rows[:2] + rows[3:]  # the second pair lost its second negative: it repeats its first
    columns = distillation_columns(fewer)
    assert columns["negative_1"][0] == columns["negative_2"][0] and columns["label"][0] == [0.1, 0.1]
    firsts = one_row_per_query(rows)
    assert [row["id"] for row in firsts] == ["d0", "d1", "d2", "d3"]


def test_mnrl_rows_carry_the_teachers_negatives_one_column_each():
    rows = teacher_rows(make_pairs(4))  # pair 0 without a negative, the others with two checked ones
    one = training_columns(rows, use_negatives=True)
    assert list(one) == ["anchor", "positive", "negative"] and len(one["anchor"]) == 4  # one row per query
    assert one["negative"][1:] == [f"{p['negative']} (0)" for p in make_pairs(4)[1:]]
    three = training_columns(rows, use_negatives=True, negatives_per_query=3)
    assert list(three) == ["anchor", "positive", "negative_1", "negative_2", "negative_3"]
    assert [three["negative_1"][1], three["negative_2"][1]] == [f"{make_pairs(4)[1]['negative']} ({k})" for k in range(2)]
    positives = set(three["positive"])
    assert three["negative_3"][1] in positives and three["negative_3"][1] != three["positive"][1]  # topped up
    assert all(three[name][0] in positives - {three["positive"][0]} for name in ("negative_1", "negative_2"))


def test_the_tiny_model_trains_with_several_teacher_negatives_in_mnrl(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(tiny_model_dir)
    result = train_embedder(
        model, teacher_rows(make_pairs(16)), make_pairs(8, doc_prefix="v"),
        chunks_for(make_pairs(16) + make_pairs(8, doc_prefix="v")),
        ModelConfig(base_model=tiny_model_dir, matryoshka_dims=[64, 32]),
        TrainingConfig(epochs=1, batch_size=8, mini_batch_size=4, learning_rate=1e-3, mnrl_negatives=2),
    )
    assert result.metrics["train_rows"] == {"mnrl": 16} and np.isfinite(result.metrics["train_loss"])


@pytest.mark.parametrize("loss", ["margin_mse", "mnrl+margin_mse", "mnrl+distill_kl"])
def test_the_tiny_model_trains_on_teacher_margins(tiny_model_dir, loss):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(tiny_model_dir)
    before = model.encode(["what about neutron stars"])
    train = teacher_rows(make_pairs(32))
    result = train_embedder(
        model, train, make_pairs(8, doc_prefix="v"), chunks_for(make_pairs(32) + make_pairs(8, doc_prefix="v")),
        ModelConfig(base_model=tiny_model_dir, matryoshka_dims=[64, 32]),
        TrainingConfig(epochs=1, batch_size=8, mini_batch_size=4, learning_rate=1e-3, loss=loss),
    )
    assert not np.allclose(before, result.model.encode(["what about neutron stars"]))
    expected = {"margin_mse": 31} if loss == "margin_mse" else {"mnrl": 32, loss.split("+")[1]: 31}
    assert result.metrics["train_rows"] == expected and result.metrics["train_pairs"] == 32
    assert np.isfinite(result.metrics["train_loss"])


def test_margin_mse_scale_scales_scores_and_margins_so_the_loss_weighs_its_square(tiny_model_dir):
    import torch
    from sentence_transformers import SentenceTransformer

    from embedtune.training.losses import build_datasets_and_losses

    model = SentenceTransformer(tiny_model_dir, device="cpu")
    train = teacher_rows(make_pairs(6))
    values = {}
    for scale in (1.0, 20.0):
        config = TrainingConfig(loss="margin_mse", margin_mse_scale=scale)
        datasets, losses = build_datasets_and_losses(model, train, ModelConfig(base_model=tiny_model_dir,
                                                     matryoshka_dims=[64]), config, 4)
        rows = datasets["margin_mse"][:4]
        assert rows["label"][0] == pytest.approx([0.1 * scale, 0.2 * scale])
        features = [model.tokenize(rows[column]) for column in ("anchor", "positive", "negative_1", "negative_2")]
        with torch.no_grad():
            values[scale] = float(losses["margin_mse"](features, torch.tensor(rows["label"])))
    assert values[20.0] == pytest.approx(400 * values[1.0], rel=1e-3)


def test_listwise_labels_are_the_teachers_logits_over_positive_and_negatives():
    from embedtune.training.losses import listwise_labels

    first, second = listwise_labels([[0.1, 0.2], [0.0, -0.05]], scale=20.0)
    assert first == pytest.approx([0, -2, -4]) and second == pytest.approx([0, 0, 1])


def test_distill_kl_is_zero_when_the_student_already_ranks_as_the_teacher_and_not_otherwise(tiny_model_dir):
    import torch
    from sentence_transformers import SentenceTransformer

    from embedtune.training.losses import build_datasets_and_losses

    model = SentenceTransformer(tiny_model_dir, device="cpu")
    train = teacher_rows(make_pairs(6))
    columns = ("anchor", "positive", "negative_1", "negative_2")
    # 1. The student's own cosine margins as the teacher's: the two softmaxes agree, the loss is ~0.
    labelled = []
    for row in train[1:]:  # two rows per pair: its two negatives
        query, positive, negative = model.encode([row["query"], row["positive"], row["negative"]],
                                                 normalize_embeddings=True)
        labelled.append({**row, "label": float(query @ positive - query @ negative)})
    values = {}
    for name, rows in (("own", labelled), ("other", teacher_rows(make_pairs(6)))):
        datasets, losses = build_datasets_and_losses(model, [train[0], *rows] if name == "own" else rows,
                                                     ModelConfig(base_model=tiny_model_dir, matryoshka_dims=[64]),
                                                     TrainingConfig(loss="distill_kl"), 4)
        batch = datasets["distill_kl"][:5]
        assert len(batch["label"][0]) == 3 and batch["label"][0][0] == 0.0
        features = [model.tokenize(batch[column]) for column in columns]
        with torch.no_grad():
            values[name] = float(losses["distill_kl"](features, torch.tensor(batch["label"])))
    assert values["own"] == pytest.approx(0.0, abs=1e-4) and values["other"] > 1e-3


def test_distill_kl_reads_the_unchecked_lists_when_the_teacher_gives_them(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    from embedtune.training.losses import build_datasets_and_losses, listwise_rows

    model = SentenceTransformer(tiny_model_dir, device="cpu")
    train = teacher_rows(make_pairs(6))
    for row in train:  # the teacher lists a pair's candidates on its first row
        if row["id"] != "d0" and not any("listwise_labels" in other for other in train if other["id"] == row["id"]):
            row.update(listwise_negatives=[f"relevant too ({row['id']})", "far away"], listwise_labels=[-0.05, 0.3])
    train[0].update(listwise_negatives=["only one"], listwise_labels=[0.1])  # no checked negative, still listed
    assert listwise_rows(train[:1]) == [{"id": "d0", "query": train[0]["query"], "positive": train[0]["positive"],
                                         "negative": "only one", "label": 0.1}]
    datasets, _ = build_datasets_and_losses(model, train, ModelConfig(base_model=tiny_model_dir, matryoshka_dims=[64]),
                                            TrainingConfig(loss="mnrl+distill_kl"), 4)
    listed = datasets["distill_kl"]
    assert len(listed) == 6 and listed[1]["negative_1"].startswith("relevant too")  # every pair, from its list
    assert listed[1]["label"] == pytest.approx([0.0, 1.0, -6.0])  # above the positive: a higher teacher logit
    assert "relevant too" not in " ".join(datasets["mnrl"]["negative"])  # MNRL keeps the checked negatives


def test_margin_mse_without_labels_is_refused(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    with pytest.raises(EmbedtuneError, match="needs teacher-labelled rows"):
        train_embedder(SentenceTransformer(tiny_model_dir), make_pairs(8), [], [],
                       ModelConfig(base_model=tiny_model_dir, matryoshka_dims=[64, 32]),
                       TrainingConfig(loss="margin_mse"))


def test_a_distillation_loss_needs_a_teacher_in_the_config():
    with pytest.raises(EmbedtuneError, match="needs teacher.kind"):
        parse_parameters({"training": {"loss": "mnrl+margin_mse"}})
    with pytest.raises(EmbedtuneError, match="needs teacher.kind"):
        parse_parameters({"training": {"loss": "distill_kl"}})
    assert parse_parameters({"training": {"loss": "margin_mse"}, "teacher": {"kind": "hybrid"}}).teacher.kind == "hybrid"


def test_training_without_a_checkpoint_dir_leaves_nothing_in_the_temp_folder(tiny_model_dir, tmp_path, monkeypatch):
    import tempfile

    from sentence_transformers import SentenceTransformer

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    train, validation = make_pairs(16), make_pairs(4, doc_prefix="v")
    train_embedder(SentenceTransformer(tiny_model_dir), train, validation, chunks_for(train + validation),
                   ModelConfig(base_model=tiny_model_dir, matryoshka_dims=[64, 32]),
                   TrainingConfig(epochs=1, batch_size=8, mini_batch_size=4))
    assert not [p.name for p in temp.iterdir() if p.name.startswith("embedtune-train-")]


def test_bf16_autocast_trains_on_a_cpu_with_native_bf16(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    from embedtune.models.devices import cpu_supports_bf16

    if not cpu_supports_bf16():
        pytest.skip("this CPU has no native bf16 (AVX512-BF16/AMX)")
    model = SentenceTransformer(tiny_model_dir, device="cpu")
    before = model.encode(["what about neutron stars"])
    result = train_embedder(
        model, teacher_rows(make_pairs(16)), [], chunks_for(make_pairs(16)),
        ModelConfig(base_model=tiny_model_dir, matryoshka_dims=[64, 32]),
        TrainingConfig(epochs=1, batch_size=8, mini_batch_size=4, learning_rate=1e-3, loss="mnrl+margin_mse",
                       precision="bf16"),
    )
    assert result.metrics["precision"] == "bf16" and np.isfinite(result.metrics["train_loss"])
    assert not np.allclose(before, result.model.encode(["what about neutron stars"]))


def test_in_batch_guide_masks_what_the_base_ranks_above_the_positive_and_stays_frozen(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    from embedtune.training.losses import build_datasets_and_losses

    model = SentenceTransformer(tiny_model_dir)
    anchors = ["neutron stars spin fast", "sourdough needs a starter"]
    # the first query's own positive is unrelated; the second's is the first query's words: a false negative
    positives = ["bread proofing times", "neutron stars spin fast indeed"]
    features = [model.tokenize(anchors), model.tokenize(positives)]
    values = {}
    for guide in ("none", "base"):
        config = TrainingConfig(batch_size=2, mini_batch_size=2, use_negatives=False, in_batch_guide=guide)
        _, losses = build_datasets_and_losses(
            model, make_pairs(4), ModelConfig(base_model=tiny_model_dir, matryoshka_dims=[64]), config, 2)
        inner = losses["mnrl"].loss
        values[guide] = float(inner([dict(f) for f in features], None).detach())
    assert type(inner).__name__ == "CachedGISTEmbedLoss" and not any(p.requires_grad for p in inner.guide.parameters())
    assert values["base"] < values["none"] - 1e-3  # the masked false negative no longer counts against query 1

    before = inner.guide.encode(["what about neutron stars"])
    train, validation = make_pairs(64), make_pairs(8, doc_prefix="v")
    result = train_embedder(
        model, train, validation, chunks_for(train + validation),
        ModelConfig(base_model=tiny_model_dir, matryoshka_dims=[64, 32]),
        TrainingConfig(epochs=1, batch_size=16, mini_batch_size=8, learning_rate=1e-3, in_batch_guide="base"),
    )
    assert np.isfinite(result.metrics["train_loss"])
    assert not np.allclose(before, result.model.encode(["what about neutron stars"]))


def test_in_batch_guide_without_mnrl_is_refused():
    with pytest.raises(ValueError, match="in_batch_guide guides MNRL"):
        TrainingConfig(loss="margin_mse", in_batch_guide="base")
