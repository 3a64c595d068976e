"""The Argilla connection: from the environment, a ZenML secret or the config; the key never shown."""

import pytest

from embedtune import EmbedtuneError
from embedtune.config import CurationConfig, parse_parameters
from embedtune.curation.argilla import Connection, not_configured_message, resolve_connection


def test_connection_from_environment_with_url_from_config_taking_precedence():
    config = CurationConfig(api_url="http://argilla.internal:6900/")
    connection = resolve_connection(config, {"ARGILLA_API_URL": "http://other", "ARGILLA_API_KEY": "s3cr3t-key"})
    assert connection == Connection("http://argilla.internal:6900", "s3cr3t-key", "$ARGILLA_API_KEY")


def test_connection_never_shows_the_key():
    connection = Connection("http://localhost:6900", "s3cr3t-key", "$ARGILLA_API_KEY")
    assert "s3cr3t-key" not in repr(connection) and "s3cr3t-key" not in str(connection)


def test_key_is_read_from_the_env_var_named_in_config():
    config = CurationConfig(api_key_env="TEAM_ARGILLA_KEY")
    assert resolve_connection(config, {"ARGILLA_API_URL": "http://x", "TEAM_ARGILLA_KEY": "k"}).api_key == "k"
    assert resolve_connection(config, {"ARGILLA_API_URL": "http://x", "ARGILLA_API_KEY": "k"}) is None


@pytest.mark.parametrize(
    "environ", [{}, {"ARGILLA_API_URL": "http://x"}, {"ARGILLA_API_KEY": "k"}], ids=["nothing", "url-only", "key-only"]
)
def test_missing_url_or_key_means_not_configured(environ):
    assert resolve_connection(CurationConfig(), environ) is None
    assert "ARGILLA_API_URL" in not_configured_message(CurationConfig())


def test_disabled_curation_never_connects():
    assert (
        resolve_connection(CurationConfig(enabled=False), {"ARGILLA_API_URL": "http://x", "ARGILLA_API_KEY": "k"})
        is None
    )
    assert "disabled" in not_configured_message(CurationConfig(enabled=False))


def test_missing_zenml_secret_is_a_clear_error(monkeypatch):
    import embedtune.curation.argilla as client_module

    def missing(name):
        raise EmbedtuneError(f"ZenML secret '{name}' (curation.secret_name) not found")

    monkeypatch.setattr(client_module, "_secret_values", missing)
    with pytest.raises(EmbedtuneError, match="ZenML secret 'argilla'"):
        resolve_connection(CurationConfig(secret_name="argilla"), {})


def test_zenml_secret_fills_what_the_environment_lacks(monkeypatch):
    import embedtune.curation.argilla as client_module

    monkeypatch.setattr(client_module, "_secret_values", lambda name: {"api_url": "http://team:6900", "api_key": "k2"})
    connection = resolve_connection(CurationConfig(secret_name="argilla"), {})
    assert connection.api_url == "http://team:6900" and connection.api_key == "k2"
    assert connection.source == "ZenML secret 'argilla'"


def test_curation_config_is_validated_with_the_key_named():
    with pytest.raises(EmbedtuneError, match="curation.batch_size"):
        parse_parameters({"curation": {"batch_size": 0}})
    with pytest.raises(EmbedtuneError, match="curation.api_key: unknown key"):
        parse_parameters({"curation": {"api_key": "never-in-config"}})


def fake_dataset(names, allow_extra=False):
    """Just enough of an Argilla dataset for metadata handling: settings.metadata, allow_extra_metadata."""
    from types import SimpleNamespace

    class Properties(list):
        def add(self, prop):
            self.append(prop)

    return SimpleNamespace(
        name="embedtune-pairs",
        settings=SimpleNamespace(metadata=Properties(SimpleNamespace(name=n) for n in names),
                                 allow_extra_metadata=allow_extra),
    )


def test_a_dataset_without_the_headings_property_still_takes_records():
    from embedtune.curation.argilla import record_metadata

    metadata = {"source": "docs/a.md", "headings": "Guide > Install", "chunk_id": "c1"}
    assert record_metadata(metadata, fake_dataset(["source", "chunk_id"])) == {"source": "docs/a.md", "chunk_id": "c1"}
    assert record_metadata(metadata, fake_dataset(["source", "chunk_id", "headings"])) == metadata
    assert record_metadata(metadata, fake_dataset([], allow_extra=True)) == metadata


def test_an_older_dataset_gets_the_headings_property_or_a_warning(monkeypatch, caplog):
    import logging

    from argilla._exceptions import ArgillaAPIError

    import embedtune.curation.argilla as client_module

    created = []

    class Property:
        def __init__(self, refuse):
            self.name, self.refuse, self.dataset = "headings", refuse, None

        def create(self):
            if self.refuse:
                raise ArgillaAPIError("no")
            created.append(self.dataset.name)

    dataset = fake_dataset(["source"])
    monkeypatch.setattr(client_module, "_headings_property", lambda client: Property(refuse=False))
    client_module.add_headings_property(None, dataset)
    assert created == ["embedtune-pairs"] and "headings" in {p.name for p in dataset.settings.metadata}
    client_module.add_headings_property(None, dataset)
    assert created == ["embedtune-pairs"], "a dataset that has it is left alone"
    monkeypatch.setattr(client_module, "_headings_property", lambda client: Property(refuse=True))
    with caplog.at_level(logging.WARNING):
        client_module.add_headings_property(None, fake_dataset(["source"]))
    assert "pushed without their heading paths" in caplog.text
