"""The model card (fields a reader needs, no training text unless opted in) and `publish` up to the network:
the exact files, the card pointed at the repo, the token's sources, a private repo by default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embedtune import EmbedtuneError, publishing
from embedtune.util.io import EXPORT_MARKER

PASSAGE = "Rotate the signing keys every ninety days with keyctl rotate --all"


def report() -> dict:
    values = {"ndcg@10": 0.5, "recall@10": 0.7}
    tuned = {"ndcg@10": 0.58, "recall@10": 0.8}
    return {
        "n_queries": 105, "n_corpus": 248, "decision_queries": "52 gold queries",
        "models": {"base": {"384": values, "64": values}, "tuned": {"384": tuned, "64": tuned}},
        "gains": {"tuned": {d: {"ndcg@10": {"gain": 0.0896, "ci_low": 0.0481, "ci_high": 0.1322}} for d in ("384", "64")}},
        "baselines": {"bm25": {"metrics": {"ndcg@10": 0.41}, "tuned_gain": {"ndcg@10": {"gain": 0.17, "ci_low": 0.1,
                                                                                        "ci_high": 0.24}}}},
    }


def facts(**extra) -> publishing.CardFacts:
    return publishing.CardFacts(**{
        "base_model": "all-MiniLM-L6-v2", "base_model_id": "sentence-transformers/all-MiniLM-L6-v2",
        "license": "Apache-2.0", "title": "embedtune:4", "corpus": "docs", "matryoshka_dims": [384, 64],
        "sizes": {"documents": 15, "query-passage pairs per split": {"train": 300, "validation": 50, "test": 105}},
        "generators": ["llamacpp:qwen2.5-coder-1.5b"], "run_name": "run-1", "date": "2026-12-01 10:00 UTC",
        "report": report(), "promotion": {"promoted": True, "stage": "staging", "reason": "promoted to staging: ..."},
        **extra,
    })


def test_card_states_base_model_license_data_test_metrics_and_decision_and_no_passage():
    card = publishing.model_card(facts())
    header, body = card.split("\n---\n", 1)
    assert "license: apache-2.0" in header and "base_model: sentence-transformers/all-MiniLM-L6-v2" in header
    assert "Base model license: Apache-2.0" in body and "Corpus: `docs`" in body
    assert "train 300, validation 50, test 105" in body and "llamacpp:qwen2.5-coder-1.5b" in body
    assert "| 384 | 0.5000 | 0.5800 | +0.0896 | [+0.0481, +0.1322] |" in body and "held-out **test** queries" in body
    assert "promoted to `staging`" in body and "Keyword baseline (bm25)" in body
    assert "sentence_transformers_model_id" not in card and "Unnamed Dataset" not in card
    assert PASSAGE not in card and "No text of the corpus" in body
    assert '"matryoshka_dims": [384, 64]' in card  # what embedtune.models.spec reads back from a card


def test_examples_appear_only_when_opted_in():
    pairs = [{"id": "b", "query": "how often rotate keys", "positive": PASSAGE}, {"id": "a", "query": "q", "positive": "p"}]
    card = publishing.model_card(facts(examples=publishing.examples_from(pairs, 1)))
    assert "| q | p |" in card and PASSAGE not in card  # the first by id only
    assert publishing.examples_from(pairs, 0) == []


def test_card_before_evaluation_says_so_and_the_dashboard_copy_has_no_yaml_header():
    card = publishing.model_card(publishing.CardFacts(base_model="/models/mine"))
    assert "Not evaluated yet." in card and "Not decided yet" in card and "base_model:" not in card.split("---")[1]
    shown = publishing.without_front_matter(card)
    assert shown.startswith("# ") and "library_name" not in shown


def test_base_model_facts_resolve_known_aliases_and_leave_local_folders_unknown(tmp_path):
    assert publishing.base_model_facts("all-MiniLM-L6-v2") == ("sentence-transformers/all-MiniLM-L6-v2", "Apache-2.0")
    assert publishing.base_model_facts(str(tmp_path)) == (None, None)


def model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "tuned-model"
    (folder / "1_Pooling").mkdir(parents=True)
    for name in ("modules.json", "config.json", "model.safetensors", "tokenizer.json"):
        (folder / name).write_text("{}")
    (folder / "1_Pooling" / "config.json").write_text("{}")
    (folder / EXPORT_MARKER).write_text(json.dumps({"run": "r"}))
    (folder / ".cache").mkdir()
    (folder / ".cache" / "x.lock").write_text("")
    publishing.write_card(folder, publishing.model_card(facts()))
    return folder


def test_upload_plan_is_the_model_files_and_the_card_pointed_at_the_repo(tmp_path):
    plan = publishing.upload_plan(model_folder(tmp_path), "acme/docs-embedder")
    assert [item.path_in_repo for item in plan] == [
        "1_Pooling/config.json", "README.md", "config.json", "model.safetensors", "modules.json", "tokenizer.json"]
    card = next(item for item in plan if item.path_in_repo == "README.md").content.decode()
    assert 'SentenceTransformer("acme/docs-embedder")' in card and publishing.LOCAL_REFERENCE not in card
    operations = publishing.commit_operations(plan)
    assert [op.path_in_repo for op in operations] == [item.path_in_repo for item in plan]
    with pytest.raises(EmbedtuneError, match="not a sentence-transformers model folder"):
        publishing.upload_plan(tmp_path, "acme/x")


class FakeHub:
    """Stands in for huggingface_hub.HfApi: records the calls, never touches the network."""

    def __init__(self):
        self.calls = []

    def create_repo(self, **kwargs):
        self.calls.append(("create_repo", kwargs))

    def create_commit(self, **kwargs):
        self.calls.append(("create_commit", kwargs))
        return type("Commit", (), {"commit_url": "https://hub/acme/docs-embedder/commit/1"})()


def test_publish_creates_a_private_repo_and_commits_exactly_the_plan(tmp_path):
    folder, hub = model_folder(tmp_path), FakeHub()
    url = publishing.publish(folder, "acme/docs-embedder", "hf_token", api=hub)
    (_, repo), (_, commit) = hub.calls
    assert repo["private"] is True and repo["exist_ok"] is True and repo["token"] == "hf_token"
    assert [op.path_in_repo for op in commit["operations"]] == [
        item.path_in_repo for item in publishing.upload_plan(folder, "acme/docs-embedder")]
    assert url.endswith("/commit/1")
    publishing.publish(folder, "acme/docs-embedder", "t", private=False, api=hub)
    assert hub.calls[2][1]["private"] is False
    with pytest.raises(EmbedtuneError, match="not a Hub repository id"):
        publishing.publish(folder, "no-owner", "t", api=hub)


def test_token_comes_from_the_environment_and_its_absence_is_one_clear_error():
    assert publishing.hub_token(environ={"HF_TOKEN": "hf_x"}) == "hf_x"
    with pytest.raises(EmbedtuneError, match="set HF_TOKEN or pass --secret"):
        publishing.hub_token(environ={})
