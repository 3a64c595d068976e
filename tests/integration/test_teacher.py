"""The teacher in the pipeline: label_with_teacher runs between split and training, and training learns the
teacher's margins (mnrl+margin_mse) on the tiny model; real queries (no judgements) join the training pairs."""

import pytest
from zenml.client import Client

from embedtune.config import parse_parameters
from tests.conftest import write_corpus

pytestmark = pytest.mark.integration


def test_end_to_end_with_the_hybrid_teacher_trains_on_its_margins(zenml_repository, tmp_path, tiny_model_dir):
    from pipelines import end_to_end

    log = tmp_path / "search-log.txt"
    log.write_text("how do I configure the pipeline\nwhat breaks when training fails\nwhere are results stored\n")
    config = parse_parameters({
        "ingest": {"corpus": str(write_corpus(tmp_path / "corpus"))},
        "chunking": {"chunk_tokens": 48, "overlap_tokens": 8},
        "generation": {"queries_per_chunk": 2},
        "teacher": {"kind": "hybrid", "candidates": 8, "negatives_per_query": 2, "real_queries": str(log)},
        "model": {"base_model": tiny_model_dir, "matryoshka_dims": [64, 32]},
        "training": {"epochs": 1, "batch_size": 8, "mini_batch_size": 4, "learning_rate": 1e-3,
                     "loss": "mnrl+margin_mse"},
        "split": {"validation_fraction": 0.2, "test_fraction": 0.34},
        "evaluation": {"bootstrap_samples": 100},
    })
    run = Client().get_pipeline_run(
        end_to_end.with_options(model={"name": "embedtune-test-teacher"})(config=config, corpus_fingerprint="t").id
    )
    labelled = run.steps["label_with_teacher"].outputs["teacher_labelled_train"]
    labelled = labelled[0] if isinstance(labelled, list) else labelled
    rows = labelled.load()
    train = run.steps["split_by_document"].outputs["train"]
    train = (train[0] if isinstance(train, list) else train).load()
    real = {"real-0", "real-1", "real-2"}  # the search log's three queries, their positives the teacher's
    assert set(rows["id"]) == set(train["id"]) | real  # every training pair, none of validation or test
    assert set(rows[rows["origin"] == "real_query"]["query"]) == set(log.read_text().splitlines())
    assert set(rows["origin"]) == {"generated", "real_query"}  # no row without it (no NaN in the artifact)
    assert rows["label"].notna().sum() > len(train) // 2
    report = labelled.run_metadata["teacher"]
    assert 0 <= report["fusion_weight"] <= 1 and report["validation_queries"] > 0 and report["real_queries"] == 3
    assert run.steps["train_embedder"].inputs["train"][0].id == labelled.id
    tuned = run.steps["train_embedder"].outputs["tuned_model"]
    training = (tuned[0] if isinstance(tuned, list) else tuned).run_metadata
    assert training["loss"] == "mnrl+margin_mse"
    assert training["train_rows"]["mnrl"] == len(train) + 3 and training["train_rows"]["margin_mse"] > 0
    assert run.steps["promote"].status.value == "completed"
