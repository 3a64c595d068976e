"""The review round trip without a server: skipped pushes, unreviewed pulls, unreachable servers."""

import pytest

from embedtune import EmbedtuneError
from embedtune.config import CurationConfig
from tests.unit.samples import CHUNK, make_pair


def test_pull_without_argilla_configured_trains_on_unreviewed_pairs_and_says_so(monkeypatch, caplog):
    from embedtune.curation.review import curate_pairs

    monkeypatch.delenv("ARGILLA_API_URL", raising=False)
    monkeypatch.delenv("ARGILLA_API_KEY", raising=False)
    with caplog.at_level("WARNING", logger="embedtune"):
        rows, metadata = curate_pairs([make_pair(0), make_pair(1)], CurationConfig())
    assert [r["review_status"] for r in rows] == ["unreviewed", "unreviewed"]
    assert metadata["reviewed"] is False and metadata["pairs"] == 2
    assert "Argilla is not configured" in caplog.text and "UNREVIEWED" in caplog.text


def test_push_without_argilla_configured_is_skipped_without_loading_a_model(monkeypatch, caplog):
    from embedtune.config import ModelConfig
    from embedtune.curation.review import push_pairs

    monkeypatch.delenv("ARGILLA_API_URL", raising=False)
    with caplog.at_level("WARNING", logger="embedtune"):
        summary = push_pairs([make_pair(0)], [CHUNK], CurationConfig(), ModelConfig(base_model="/no/such/model"))
    assert summary["status"] == "skipped" and "skipping the push" in caplog.text


def test_unreachable_argilla_is_a_clear_error_naming_the_safe_artifact_and_not_the_key(monkeypatch):
    import socket

    from embedtune.config import ModelConfig
    from embedtune.curation.argilla import ArgillaUnavailable
    from embedtune.curation.review import push_pairs

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("ARGILLA_API_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("ARGILLA_API_KEY", "s3cr3t-key-123")
    with pytest.raises(ArgillaUnavailable) as error:
        push_pairs([make_pair(0)], [CHUNK], CurationConfig(timeout_s=5), ModelConfig(base_model="/no/such/model"))
    assert "unreachable" in str(error.value) and "training_triplets" in str(error.value)
    assert "s3cr3t-key-123" not in str(error.value)
    assert isinstance(error.value, EmbedtuneError)
