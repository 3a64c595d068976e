"""Secrets never reach a message: known secrets replaced, credentials in any URL hidden."""

from embedtune.util.redact import redact, redact_url


def test_every_occurrence_of_every_known_secret_is_replaced():
    text = redact("key sk-123 failed; retry with sk-123 and pw hunter2", ["sk-123", "", "hunter2"])
    assert "sk-123" not in text and "hunter2" not in text and text.count("***") == 3


def test_credentials_in_every_url_of_a_text_are_hidden_and_the_rest_kept():
    text = "tried http://user:PASSWORD@Host:8080/v1 then https://tok@other.example/api and http://plain/x"
    hidden = redact_url(text)
    assert "PASSWORD" not in hidden and "tok@" not in hidden and "user" not in hidden
    assert "Host:8080/v1" in hidden and "other.example/api" in hidden and "http://plain/x" in hidden
    assert redact_url("sqlite:////abs/path/zenml.db") == "sqlite:////abs/path/zenml.db"


def test_every_config_field_holding_a_url_with_credentials_is_named():
    from embedtune.util.redact import fields_with_url_credentials

    config = {
        "generation": {"openai": {"base_url": "http://user:PASSWORD@host/v1", "model": "m"}},
        "compare": {"api_base_url": "https://api.example/v1"},
        "urls": ["http://ok/x", "https://tok@other/y"],
    }
    assert fields_with_url_credentials(config) == ["generation.openai.base_url", "urls[1]"]
    assert fields_with_url_credentials({"a": {"b": 3, "c": "sqlite:////abs/zenml.db"}}) == []


def test_every_log_record_of_any_library_is_cleaned_of_url_passwords_and_registered_secrets():
    import io
    import logging

    from embedtune.util.redact import install_log_redaction, register_secret

    install_log_redaction()
    install_log_redaction()  # twice is once
    register_secret("sk-registered-SECRET-42")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    library = logging.getLogger("some.library.http")
    library.addHandler(handler)
    library.setLevel(logging.INFO)
    try:
        library.info("POST %s with key %s", "http://user:PLANTED-PW@host:8000/v1/chat", "sk-registered-SECRET-42")
        library.warning("retrying https://admin:PLANTED-PW@proxy/x")
    finally:
        library.removeHandler(handler)
    logged = stream.getvalue()
    assert "PLANTED-PW" not in logged and "sk-registered-SECRET-42" not in logged
    assert "http://***@host:8000/v1/chat" in logged and "https://***@proxy/x" in logged
