"""Each pipeline end to end on the session's temporary ZenML store, with a tiny model and corpus."""

import json
import os
from pathlib import Path

import pytest
from zenml.client import Client
from zenml.enums import ExecutionStatus

from embedtune.config import parse_parameters
from embedtune.data.ingest import corpus_fingerprint
from tests.conftest import TOPICS, write_corpus

pytestmark = pytest.mark.integration

DATA_STEPS = ["load_documents", "chunk_documents", "generate_queries", "filter_pairs", "mine_negatives"]
TRAIN_STEPS = ["split_by_document", "train_embedder", "evaluate", "promote"]


def tiny_config(corpus_dir, model_dir):
    return parse_parameters({
        "ingest": {"corpus": str(corpus_dir)},
        "chunking": {"chunk_tokens": 48, "overlap_tokens": 8},
        "generation": {"queries_per_chunk": 2},
        "model": {"base_model": model_dir, "matryoshka_dims": [64, 32]},
        "training": {"epochs": 1, "batch_size": 8, "mini_batch_size": 4, "learning_rate": 1e-3},
        "split": {"validation_fraction": 0.2, "test_fraction": 0.34},
        "evaluation": {"bootstrap_samples": 100},
    })


def output(run, step, name):
    value = run.steps[step].outputs[name]
    return value[0] if isinstance(value, list) else value


@pytest.fixture(scope="module")
def end_to_end_runs(zenml_repository, tmp_path_factory, tiny_model_dir):
    from pipelines import end_to_end

    corpus = write_corpus(tmp_path_factory.mktemp("e2e") / "corpus")
    config = tiny_config(corpus, tiny_model_dir)
    pipeline = end_to_end.with_options(model={"name": "embedtune-test"})
    first = pipeline(config=config, corpus_fingerprint=corpus_fingerprint(config.ingest))
    second = pipeline(config=config, corpus_fingerprint=corpus_fingerprint(config.ingest))
    client = Client()
    return client.get_pipeline_run(first.id), client.get_pipeline_run(second.id)


def test_end_to_end_produces_every_named_artifact(end_to_end_runs):
    run, _ = end_to_end_runs
    assert run.status == ExecutionStatus.COMPLETED
    assert set(DATA_STEPS + TRAIN_STEPS) <= set(run.steps)
    for step, name in [
        ("load_documents", "documents"), ("chunk_documents", "chunks"), ("generate_queries", "synthetic_pairs"),
        ("filter_pairs", "filtered_pairs"), ("mine_negatives", "training_triplets"), ("split_by_document", "train"),
        ("split_by_document", "test"), ("train_embedder", "tuned_model"), ("evaluate", "evaluation_report"),
        ("evaluate", "evaluation_html"), ("promote", "promotion"),
    ]:
        assert output(run, step, name).name == name
    documents = output(run, "load_documents", "documents").load()
    assert len(documents) == 6 and set(documents.columns) == {"doc_id", "source", "title", "text"}
    pairs = output(run, "generate_queries", "synthetic_pairs").load()
    chunks = output(run, "chunk_documents", "chunks").load()
    assert len(pairs) == 2 * len(chunks)


def test_metadata_records_drops_negatives_and_metrics(end_to_end_runs):
    run, _ = end_to_end_runs
    filtered = output(run, "filter_pairs", "filtered_pairs").run_metadata
    assert filtered["input_pairs"] == len(output(run, "generate_queries", "synthetic_pairs").load())
    assert set(filtered["dropped"]) >= {"parse_failure", "duplicate", "copies_passage", "too_short"}
    assert sum(output(run, "mine_negatives", "training_triplets").run_metadata["negatives"].values()) > 0
    model_version = run.model_version
    assert model_version is not None and model_version.model.name == "embedtune-test"
    metadata = model_version.run_metadata
    assert {"base_ndcg@10", "tuned_ndcg@10", "ndcg@10_gain", "promoted", "training"} <= set(metadata)
    report = output(run, "evaluate", "evaluation_report").load()
    assert set(report["models"]["tuned"]) == {"64", "32"}
    assert metadata["tuned_ndcg@10"] == pytest.approx(report["models"]["tuned"]["64"]["ndcg@10"])


def test_no_test_document_is_trained_on(end_to_end_runs):
    run, _ = end_to_end_runs
    train = output(run, "split_by_document", "train").load()
    test = output(run, "split_by_document", "test").load()
    assert len(test) > 0 and set(train["doc_id"]).isdisjoint(set(test["doc_id"]))


def test_tuned_model_artifact_is_a_plain_sentence_transformer_directory(end_to_end_runs):
    from sentence_transformers import SentenceTransformer

    run, _ = end_to_end_runs
    artifact = output(run, "train_embedder", "tuned_model")
    assert artifact.type == "ModelArtifact"
    assert SentenceTransformer(artifact.uri).encode(["hello"]).shape == (1, 64)


def test_promotion_follows_the_gate(end_to_end_runs):
    run, _ = end_to_end_runs
    promotion = output(run, "promote", "promotion").load()
    report = output(run, "evaluate", "evaluation_report").load()
    gain = report["gains"]["tuned"]["64"]["ndcg@10"]
    assert promotion["promoted"] == (gain["gain"] > 0 and gain["ci_low"] > 0)  # default: gain and CI above zero
    stage = run.model_version.stage
    assert (stage == "staging") == promotion["promoted"]


def test_second_identical_run_reuses_every_step_but_the_promotion_decision(end_to_end_runs):
    _, second = end_to_end_runs
    assert {name: step.status for name, step in second.steps.items()} == {
        name: ExecutionStatus.COMPLETED if name == "promote" else ExecutionStatus.CACHED for name in second.steps
    }
    # Its steps logged nothing, yet its model version carries the figures it was promoted (or not) on.
    assert {"tuned_ndcg@10", "ndcg@10_gain", "training", "promoted"} <= set(second.model_version.run_metadata)


def test_generate_then_finetune_pipelines(zenml_repository, tmp_path, tiny_model_dir):
    from pipelines import finetune, generate_data

    config = tiny_config(write_corpus(tmp_path / "corpus", repeats=2), tiny_model_dir)
    generated = generate_data.with_options(model={"name": "embedtune-test-split"})(config=config, corpus_fingerprint="x")
    generated = Client().get_pipeline_run(generated.id)
    assert set(DATA_STEPS) <= set(generated.steps) and not set(TRAIN_STEPS) & set(generated.steps)
    triplets = output(generated, "mine_negatives", "training_triplets")
    tuned = Client().get_pipeline_run(finetune.with_options(model={"name": "embedtune-test-split"})(config=config).id)
    assert set(TRAIN_STEPS) <= set(tuned.steps) and not set(DATA_STEPS) & set(tuned.steps)
    assert tuned.steps["split_by_document"].inputs["training_triplets"][0].id == triplets.id


def test_finetune_and_push_start_from_the_latest_run_even_when_its_pairs_came_from_the_cache(
    zenml_repository, tmp_path, tiny_model_dir
):
    from pipelines import generate_data
    from pipelines.latest import latest_run_outputs

    configs = [
        tiny_config(write_corpus(tmp_path / name, {k: TOPICS[k] for k in topics}, repeats=2), tiny_model_dir)
        for name, topics in (("a", ("baking", "chess", "finance")), ("b", ("kubernetes", "astronomy", "gardening")))
    ]
    pipeline = generate_data.with_options(model={"name": "embedtune-test-latest"})
    runs = [
        Client().get_pipeline_run(pipeline(config=config, corpus_fingerprint=corpus_fingerprint(config.ingest)).id)
        for config in (configs[0], configs[1], configs[0])  # a, b, then a again: served from the cache
    ]
    assert runs[2].steps["mine_negatives"].status == ExecutionStatus.CACHED
    newest_by_name = Client().get_artifact_version("training_triplets")
    assert newest_by_name.id == output(runs[1], "mine_negatives", "training_triplets").id  # b's pairs
    triplets, chunks = latest_run_outputs("training_triplets", "chunks")
    assert triplets.id == output(runs[0], "mine_negatives", "training_triplets").id  # a's, as just asked for
    assert chunks.id == output(runs[0], "chunk_documents", "chunks").id


def test_the_same_documents_in_a_fresh_clone_reuse_everything_after_reading_them(
    zenml_repository, tmp_path, tiny_model_dir
):
    """A clone (or a `touch`) changes the files' modification times, so the corpus is read again; the
    documents' content hash is unchanged, so chunking, generation and the rest come from the cache."""
    import shutil

    from pipelines import generate_data

    topics = {"clone": "Cloned repositories keep their documents; only the modification times are new."}
    first_corpus = write_corpus(tmp_path / "first" / "corpus", topics=topics, repeats=4)
    pipeline = generate_data.with_options(model={"name": "embedtune-test-clone"})

    def run(corpus):
        config = tiny_config(corpus, tiny_model_dir)
        return Client().get_pipeline_run(pipeline(config=config, corpus_fingerprint=corpus_fingerprint(config.ingest)).id)

    first = run(first_corpus)
    clone = tmp_path / "clone" / "corpus"
    shutil.copytree(first_corpus, clone)  # new paths and modification times, same bytes
    second = run(clone)
    assert second.steps["load_documents"].status == ExecutionStatus.COMPLETED  # read again: its fingerprint changed
    assert {name: second.steps[name].status for name in DATA_STEPS[1:]} == dict.fromkeys(DATA_STEPS[1:], ExecutionStatus.CACHED)
    assert output(second, "mine_negatives", "training_triplets").id == output(first, "mine_negatives", "training_triplets").id

    edited = clone / "clone.md"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n\nOne new paragraph about forks.\n", encoding="utf-8")
    third = run(clone)
    assert third.steps["chunk_documents"].status == ExecutionStatus.COMPLETED  # different content: no cache


def _beir_folder(tmp_path):
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    docs = {f"d{i}": f"passage {i} about subject {i % 5}" for i in range(20)}
    (folder / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": k, "title": "", "text": v}) for k, v in docs.items()), encoding="utf-8"
    )
    (folder / "queries.jsonl").write_text(
        "\n".join(json.dumps({"_id": f"q{i}", "text": f"subject {i % 5} passage {i}"}) for i in range(10)), encoding="utf-8"
    )
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\r\n" + "".join(f"q{i}\td{i}\t1\r\n" for i in range(10)), encoding="utf-8"
    )
    return folder


def test_no_cache_beats_a_run_config_that_enables_the_cache(zenml_repository, tmp_path, tiny_model_dir):
    from zenml.enums import ExecutionStatus

    from commands.support import options_file
    from pipelines import evaluate_benchmark_pipeline

    folder = _beir_folder(tmp_path)
    arguments = {"config": parse_parameters({}), "models": [tiny_model_dir], "benchmark_dir": str(folder), "split": "test"}
    statuses = []
    for no_cache in (False, False, True):
        with options_file({"enable_cache": True}, no_cache) as path:
            run = Client().get_pipeline_run(evaluate_benchmark_pipeline.with_options(config_path=path)(**arguments).id)
        statuses.append(run.steps["evaluate_benchmark"].status)
    assert statuses == [ExecutionStatus.COMPLETED, ExecutionStatus.CACHED, ExecutionStatus.COMPLETED]


def test_evaluate_pipeline_on_a_beir_folder(zenml_repository, tmp_path, tiny_model_dir):
    from pipelines import evaluate_benchmark_pipeline

    folder = _beir_folder(tmp_path)
    run = evaluate_benchmark_pipeline(
        config=parse_parameters({}), models=[tiny_model_dir], benchmark_dir=str(folder), split="test"
    )
    report = output(Client().get_pipeline_run(run.id), "evaluate_benchmark", "benchmark_report").load()
    assert report["n_queries"] == 10 and report["n_corpus"] == 20
    assert 0.0 <= report["models"][tiny_model_dir]["64"]["ndcg@10"] <= 1.0
    # the same paths with changed contents: the step runs again instead of serving the cached report
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(4)), encoding="utf-8"
    )
    again = Client().get_pipeline_run(evaluate_benchmark_pipeline(
        config=parse_parameters({}), models=[tiny_model_dir], benchmark_dir=str(folder), split="test"
    ).id)
    assert output(again, "evaluate_benchmark", "benchmark_report").load()["n_queries"] == 4


def test_best_chunk_cuts_a_beir_folder_as_the_run_config_chunks_a_corpus(zenml_repository, tmp_path, tiny_model_dir):
    from pipelines import evaluate_benchmark_pipeline

    folder = _beir_folder(tmp_path)
    long_text = " ".join(f"word{j} about subject {j % 5}" for j in range(30))  # ~120 tokens: one default chunk
    (folder / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": f"d{i}", "title": "", "text": f"passage {i} {long_text}"}) for i in range(20)),
        encoding="utf-8",
    )
    reports = []
    for chunking in ({}, {"chunking": {"chunk_tokens": 40, "overlap_tokens": 4}}):
        config = parse_parameters({"evaluation": {"long_documents": "best_chunk"}, **chunking})
        run = evaluate_benchmark_pipeline(config=config, models=[tiny_model_dir], benchmark_dir=str(folder), split="test")
        reports.append(output(Client().get_pipeline_run(run.id), "evaluate_benchmark", "benchmark_report").load())
    default, short = reports
    assert default["documents_by"] == short["documents_by"] == "best chunk"
    assert default["n_chunks"] == 20 < short["n_chunks"]  # the run's chunking section, not the default's


def test_a_new_version_replaces_production_only_if_it_beats_it(zenml_repository, tmp_path, tiny_model_dir):
    from zenml.enums import ExecutionStatus

    from pipelines import end_to_end

    config = tiny_config(write_corpus(tmp_path / "corpus", repeats=2), tiny_model_dir)
    config.promotion.stage = "production"
    config.promotion.min_ndcg_gain = -1.0  # isolate the incumbent comparison from the base-model gate
    config.promotion.require_significant = False
    pipeline = end_to_end.with_options(model={"name": "embedtune-test-production"})
    first = Client().get_pipeline_run(pipeline(config=config, corpus_fingerprint="p").id)
    assert output(first, "promote", "promotion").load()["incumbent"] is None
    assert Client().get_model_version("embedtune-test-production", "production").id == first.model_version.id

    config.training.seed = 7  # a different model, not a cached run
    second = Client().get_pipeline_run(pipeline(config=config, corpus_fingerprint="p").id)
    decision = output(second, "promote", "promotion").load()
    assert decision["incumbent"] == first.model_version.name
    production = Client().get_model_version("embedtune-test-production", "production")
    expected = second.model_version.id if decision["promoted"] else first.model_version.id
    assert production.id == expected, decision["reason"]

    # the same config again: every step but promote is cached; promote decides afresh against today's holder
    third = Client().get_pipeline_run(pipeline(config=config, corpus_fingerprint="p").id)
    assert third.steps["train_embedder"].status == ExecutionStatus.CACHED
    assert third.steps["promote"].status == ExecutionStatus.COMPLETED
    assert output(third, "promote", "promotion").load()["incumbent"] == production.name


def test_tuned_model_artifact_loads_with_plain_sentence_transformers_without_embedtune(end_to_end_runs, tmp_path):
    import subprocess
    import sys

    run, _ = end_to_end_runs
    uri = output(run, "train_embedder", "tuned_model").uri
    # -I -S: no user site, no .pth files (so no editable-install hook for embedtune); only site-packages itself
    script = (
        "import sys\n"
        "sys.path.append(sys.argv[2])\n"
        "try:\n    import embedtune\nexcept ImportError:\n    pass\n"
        "else:\n    raise SystemExit('embedtune is importable: the check would prove nothing')\n"
        "from sentence_transformers import SentenceTransformer\n"
        "print(SentenceTransformer(sys.argv[1], local_files_only=True).encode(['a query about pods']).shape)\n"
    )
    site_packages = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "sentence_transformers").is_dir())
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, uri, site_packages], cwd=tmp_path, capture_output=True, text=True,
        timeout=300,
        check=False, env={"HF_HUB_OFFLINE": "1", "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "(1, 64)"


def test_staging_needs_to_beat_production_and_a_production_version_is_replaced(
    zenml_repository, tmp_path, tiny_model_dir
):
    from pipelines import end_to_end

    config = tiny_config(write_corpus(tmp_path / "corpus", repeats=2), tiny_model_dir)
    config.promotion.min_ndcg_gain = -1.0  # isolate the incumbent comparison from the base-model gate
    config.promotion.require_significant = False
    config.promotion.stage = "production"
    config.promotion.compare_with_incumbent = False
    pipeline = end_to_end.with_options(model={"name": "embedtune-test-replace"})
    first = Client().get_pipeline_run(pipeline(config=config, corpus_fingerprint="r").id)
    assert Client().get_model_version("embedtune-test-replace", "production").id == first.model_version.id

    # Same data and training (cached): the candidate for staging is the production model itself, a gain of
    # exactly zero over production, so it must not be promoted even though it clears the base-model gate.
    config.promotion.stage = "staging"
    config.promotion.compare_with_incumbent = True
    second = Client().get_pipeline_run(pipeline(config=config, corpus_fingerprint="r").id)
    assert second.steps["train_embedder"].status == ExecutionStatus.CACHED
    decision = output(second, "promote", "promotion").load()
    assert decision["promoted"] is False and decision["incumbent_stage"] == "production"
    assert f"not the current production version {first.model_version.name}" in decision["reason"]
    assert Client().get_model_version("embedtune-test-replace", second.model_version.id).stage is None

    # Promoted to production without the incumbent comparison: the new version takes production over.
    config.promotion.stage = "production"
    config.promotion.compare_with_incumbent = False
    config.promotion.min_ndcg_gain = -0.99  # not the first run's promote config: the promote step must run again
    third = Client().get_pipeline_run(pipeline(config=config, corpus_fingerprint="r").id)
    assert output(third, "promote", "promotion").load()["promoted"] is True
    assert Client().get_model_version("embedtune-test-replace", "production").id == third.model_version.id
    assert Client().get_model_version("embedtune-test-replace", first.model_version.id).stage == "archived"


def test_each_model_encodes_the_corpus_at_most_once_per_run_and_a_rerun_encodes_nothing(
    zenml_repository, tmp_path, tiny_model_dir, monkeypatch
):
    from embedtune.models import encoding
    from embedtune.models.embedding_cache import model_fingerprint
    from pipelines import end_to_end

    monkeypatch.setenv("EMBEDTUNE_EMBEDDING_CACHE", str(tmp_path / "embeddings"))  # a cold cache
    calls: list[tuple[str, tuple[str, ...]]] = []
    real = encoding.encode_raw

    def spy(model, texts, prompt="", batch_size=64):
        calls.append((model_fingerprint(model), tuple(texts)))
        return real(model, texts, prompt, batch_size)

    monkeypatch.setattr(encoding, "encode_raw", spy)
    corpus = write_corpus(tmp_path / "corpus")
    config = tiny_config(corpus, tiny_model_dir)
    config.filtering.round_trip_top_k = 5  # the base model's third use of the corpus
    config.promotion.min_ndcg_gain = -1.0  # promote, so the re-run's `promote` has an incumbent to beat
    config.promotion.require_significant = False
    pipeline = end_to_end.with_options(model={"name": "embedtune-encode-once"})
    first = Client().get_pipeline_run(pipeline(config=config, corpus_fingerprint="once").id)
    chunks = {row["text"] for row in output(first, "chunk_documents", "chunks").load().to_dict("records")}

    corpus_encodes: dict[str, int] = {}
    for fingerprint, texts in calls:
        if chunks <= set(texts) or (len(texts) == len(chunks) and set(texts) == chunks):
            corpus_encodes[fingerprint] = corpus_encodes.get(fingerprint, 0) + 1
    assert len(corpus_encodes) == 2 and set(corpus_encodes.values()) == {1}, corpus_encodes  # base and tuned
    assert output(first, "promote", "promotion").load()["promoted"] is True

    calls.clear()
    second = Client().get_pipeline_run(pipeline(config=config, corpus_fingerprint="once").id)
    assert output(second, "promote", "promotion").load()["incumbent"]  # it compared with the first run's model
    assert calls == []  # every vector came from the cache: nothing encoded


def test_an_export_carries_the_card_with_test_results_and_decision_and_no_training_passage(end_to_end_runs, tmp_path):
    from commands.support import export_model
    from embedtune import publishing

    run, _ = end_to_end_runs
    artifact = output(run, "train_embedder", "tuned_model")
    stored = (Path(artifact.uri) / "README.md").read_text(encoding="utf-8")
    folder = export_model(artifact, str(tmp_path / "export"), run.name, output(run, "promote", "model_card_readme").load())
    card = (folder / "README.md").read_text(encoding="utf-8")
    promotion = output(run, "promote", "promotion").load()
    assert "library_name: sentence-transformers" in card and "Base model license:" in card
    assert "Corpus: `" in card and "query-passage pairs per split" in card and "Queries written by:" in card
    assert "held-out **test** queries" in card and "| 64 |" in card and "| 32 |" in card
    assert ("promoted to `staging`" if promotion["promoted"] else "**not promoted**") in card
    assert "sentence_transformers_model_id" not in card and "Unnamed Dataset" not in card
    for split in ("train", "test"):
        for pair in output(run, "split_by_document", split).load().to_dict("records"):
            assert pair["positive"][:60] not in card
            assert len(pair["query"] or "") < 20 or pair["query"] not in card
    assert "held-out **test** queries" not in stored  # the stored artifact keeps its training-time card
    shown = output(run, "promote", "model_card").load()
    assert shown.startswith("# ") and "library_name" not in shown
    plan = [item.path_in_repo for item in publishing.upload_plan(folder, "acme/model")]
    on_disk = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert plan == [name for name in on_disk if not name.startswith(".")] and "README.md" in plan
