"""A password in `generation.openai.base_url` never reaches a message or a log line (the URL is shown as
`http://***@host/v1`); the key and the password are registered so every later log record hides them."""

from __future__ import annotations

import logging

import pytest

from embedtune import EmbedtuneError
from embedtune.config import GenerationConfig
from embedtune.generation import make_generator
from embedtune.util.redact import install_log_redaction
from tests.unit.generation.fakes import CHUNKS

PASSWORD = "PLANTED-url-PASSWORD-93"


def test_a_password_in_the_base_url_is_in_no_message_and_no_log(tmp_path, monkeypatch, caplog):
    pytest.importorskip("openai")
    install_log_redaction()
    monkeypatch.delenv("EMBEDTUNE_UNSET_KEY", raising=False)
    monkeypatch.setenv("EMBEDTUNE_DISTILABEL_MODE", "direct")
    config = GenerationConfig(
        backend="openai",
        cache_dir=str(tmp_path / "distilabel"),
        openai={"base_url": f"http://user:{PASSWORD}@127.0.0.1:9/v1", "api_key_env": "EMBEDTUNE_UNSET_KEY",
                "max_retries": 0, "timeout_s": 2},
    )
    caplog.set_level(logging.DEBUG)
    generator = make_generator(config)
    assert generator.endpoint == "http://***@127.0.0.1:9/v1"
    with pytest.raises(EmbedtuneError) as failed:
        generator.generate(CHUNKS[:1], 1)
    assert PASSWORD not in str(failed.value)
    logging.getLogger("any.library").warning("echoing the password %s", PASSWORD)  # registered: hidden
    assert PASSWORD not in caplog.text and "placeholder key to http://***@127.0.0.1:9/v1" in caplog.text
