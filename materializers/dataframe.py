"""ZenML's pandas materializer, plus a content hash, so that equal tables are one cache key.

ZenML keys a step's cache on its inputs' *content hash* when their materializer computes one, and on the
artifact's ID otherwise. With IDs alone, a step that re-runs and produces the same table (the corpus read
again after a `git clone` or a `touch`, which changes the files' modification times and so the ingest
fingerprint) invalidates every step after it: hours of query generation and training redone for nothing.
With a content hash, `chunk_documents` on the same documents is served from the cache, and so is
everything downstream. A table that differs in any cell, column name, dtype or row order hashes
differently.

Imported by `steps/__init__.py`, so it is the registered materializer of `pd.DataFrame` (and `pd.Series`)
in every process that runs one of embedtune's steps; storage is the parent's (parquet), unchanged.

Example:
    >>> import pandas as pd
    >>> from materializers.dataframe import content_hash
    >>> content_hash(pd.DataFrame({"a": [1, 2]})) == content_hash(pd.DataFrame({"a": [1, 2]}))
    True
    >>> content_hash(pd.DataFrame({"a": [1, 2]})) == content_hash(pd.DataFrame({"a": [2, 1]}))
    False
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd
from zenml.integrations.pandas.materializers.pandas_materializer import PandasMaterializer
from zenml.materializers.materializer_registry import materializer_registry


def content_hash(data: pd.DataFrame | pd.Series) -> str:
    """sha256 of a table's shape, column names, dtypes, index and every value (lists and arrays in full).

    Args:
        data: a DataFrame or a Series.

    Returns:
        64 hex characters.
    """
    frame = data.to_frame() if isinstance(data, pd.Series) else data
    cells = frame.copy(deep=False)
    for name in cells.columns[cells.dtypes == object]:  # lists, dicts, arrays: hashed by a full text of them
        cells[name] = cells[name].map(_cell_text)
    digest = hashlib.sha256()
    digest.update(type(data).__name__.encode())
    digest.update(repr([(str(name), str(dtype)) for name, dtype in frame.dtypes.items()]).encode())
    digest.update(repr(frame.shape).encode())
    digest.update(pd.util.hash_pandas_object(cells, index=True, categorize=False).to_numpy().tobytes())
    return digest.hexdigest()


def _cell_text(value: Any) -> str:
    """A cell of an object column as text that differs whenever the value does (no `...` elision)."""
    if isinstance(value, str):
        return "s" + value
    if isinstance(value, np.ndarray):
        return f"a{value.dtype}{value.shape}" + hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
    if isinstance(value, (list, tuple)):
        return type(value).__name__[0] + "[" + "\x1f".join(_cell_text(item) for item in value) + "]"
    return "r" + repr(value)


class HashedPandasMaterializer(PandasMaterializer):
    """PandasMaterializer with `compute_content_hash` (the module docstring says why)."""

    def compute_content_hash(self, data: Any) -> str | None:
        try:
            return content_hash(data)
        except (TypeError, ValueError):  # a cell pandas cannot hash at all: fall back to the artifact's ID
            return None


# ZenML keeps the first materializer registered for a type (its pandas integration's, at `import zenml`):
# replace it, so every step that returns a DataFrame or a Series stores it with a content hash.
for _type in HashedPandasMaterializer.ASSOCIATED_TYPES:
    materializer_registry.register_and_overwrite_type(_type, HashedPandasMaterializer)
