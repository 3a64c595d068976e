"""DataFrame <-> records, with missing values as None (pandas stores them as NaN)."""

from __future__ import annotations

from typing import Any

import pandas as pd


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")
