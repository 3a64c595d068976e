"""The contract's query styles: only known ones, never none."""

import pytest

from embedtune.config import GenerationConfig


def test_query_styles_must_be_known_and_not_empty():
    for bad in ([], ["headline"]):
        with pytest.raises(ValueError, match="query_styles"):
            GenerationConfig(query_styles=bad)
