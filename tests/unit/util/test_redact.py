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
