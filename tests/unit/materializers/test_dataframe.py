"""The DataFrame materializer's content hash: equal tables hash alike, any difference changes it."""

import numpy as np
import pandas as pd
import pytest

from materializers.dataframe import HashedPandasMaterializer, content_hash


def _chunks() -> pd.DataFrame:
    return pd.DataFrame({
        "chunk_id": ["a", "b"], "headings": [["Guide", "Install"], ["Guide"]], "n_tokens": [12, 40],
        "vector": [np.zeros(1500, dtype=np.float32), np.ones(3, dtype=np.float32)], "score": [0.5, None],
    })


def test_equal_tables_hash_alike_even_as_separate_objects():
    assert content_hash(_chunks()) == content_hash(_chunks().copy(deep=True))


@pytest.mark.parametrize("change", [
    lambda f: f.assign(n_tokens=[12, 41]),                                  # one number
    lambda f: f.assign(headings=[["Guide", "Install"], ["Guide", "More"]]),  # one list cell
    lambda f: f.assign(score=[0.5, 1e-12]),                                  # None vs a tiny float
    lambda f: f.rename(columns={"score": "margin"}),                         # a column name
    lambda f: f.astype({"n_tokens": "float64"}),                             # a dtype
    lambda f: f.iloc[::-1].reset_index(drop=True),                           # row order
    lambda f: f.iloc[:1],                                                    # a row less
])
def test_any_difference_changes_the_hash(change):
    assert content_hash(change(_chunks())) != content_hash(_chunks())


def test_an_array_differing_past_numpys_printed_elision_still_changes_the_hash():
    frame = _chunks()
    other = frame.copy(deep=True)
    other.at[0, "vector"] = np.r_[np.zeros(1499, dtype=np.float32), np.float32(1.0)]
    assert content_hash(other) != content_hash(frame)


def test_a_series_and_its_one_column_frame_differ():
    assert content_hash(pd.Series([1, 2])) != content_hash(pd.DataFrame({0: [1, 2]}))


def test_it_is_the_registered_materializer_of_dataframes_once_the_steps_are_imported():
    from zenml.materializers.materializer_registry import materializer_registry

    import steps  # noqa: F401

    assert materializer_registry[pd.DataFrame] is HashedPandasMaterializer
    assert HashedPandasMaterializer(uri="/nonexistent").compute_content_hash(_chunks()) == content_hash(_chunks())
