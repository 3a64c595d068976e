from pathlib import Path

import pytest

from embedtune import EmbedtuneError
from embedtune.config import EmbedtuneConfig, load_run_config, parse_parameters

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_default_config_loads_and_separates_zenml_options():
    config, options = load_run_config(PROJECT_ROOT / "configs" / "default.yaml")
    assert isinstance(config, EmbedtuneConfig)
    assert config.ingest.corpus == "docs"
    assert options["model"]["name"] == "embedtune"
    assert "parameters" not in options


def test_quality_profile_layers_the_recipe_over_the_default():
    config, options = load_run_config(PROJECT_ROOT / "configs" / "quality.yaml")
    assert config.teacher.kind == "hybrid" and config.training.loss == "mnrl+margin_mse"
    assert config.generation.queries_per_chunk == len(config.generation.query_styles) == 3
    assert config.ingest.corpus == "docs" and options["model"]["name"] == "embedtune"  # the rest is the default


def test_unknown_key_is_rejected_with_its_name():
    with pytest.raises(EmbedtuneError, match=r"training\.batch_sise: unknown key"):
        parse_parameters({"training": {"batch_sise": 8}})


def test_wrong_type_names_the_key():
    with pytest.raises(EmbedtuneError, match=r"training\.epochs"):
        parse_parameters({"training": {"epochs": "many"}})


@pytest.mark.parametrize(
    "parameters, key",
    [
        ({"training": {"batch_size": -4}}, "training.batch_size"),
        ({"chunking": {"chunk_tokens": 64, "overlap_tokens": 64}}, "overlap_tokens"),
        ({"split": {"validation_fraction": 0.5, "test_fraction": 0.5}}, "split.validation_fraction"),
        ({"model": {"matryoshka_dims": [384, -1]}}, "matryoshka_dims"),
    ],
)
def test_impossible_values_are_rejected(parameters, key):
    with pytest.raises(EmbedtuneError, match=key.replace(".", r"\.")):
        parse_parameters(parameters)


def test_malformed_yaml_reports_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("parameters:\n  training:\n    epochs: [1, 2\n", encoding="utf-8")
    with pytest.raises(EmbedtuneError, match=r"malformed YAML .* line"):
        load_run_config(path)


def test_unknown_top_level_key_points_to_parameters(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  epochs: 1\n", encoding="utf-8")
    with pytest.raises(EmbedtuneError, match="under `parameters:`"):
        load_run_config(path)


def test_matryoshka_dims_are_sorted_descending():
    assert parse_parameters({"model": {"matryoshka_dims": [64, 384, 128]}}).model.matryoshka_dims == [384, 128, 64]
