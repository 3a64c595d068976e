"""Stores a SentenceTransformer as a plain model directory (safetensors + tokenizer + config).

The artifact folder is loadable without ZenML by `SentenceTransformer(<artifact uri>)`; nothing is pickled.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from sentence_transformers import SentenceTransformer
from zenml.enums import ArtifactType, VisualizationType
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.utils import io_utils

from embedtune.models.loading import embedding_dimension


class SentenceTransformerMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (SentenceTransformer,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.MODEL

    def load(self, data_type: type[Any]) -> SentenceTransformer:
        # Kept until the step ends: weights may be memory-mapped from these files.
        with self.get_temporary_directory(delete_at_exit=False) as temp_dir:
            io_utils.copy_dir(self.uri, temp_dir)
            return SentenceTransformer(temp_dir, local_files_only=True)

    def save(self, model: SentenceTransformer) -> None:
        with self.get_temporary_directory(delete_at_exit=True) as temp_dir:
            model.save(temp_dir, safe_serialization=True)
            io_utils.copy_dir(temp_dir, self.uri)

    def extract_metadata(self, model: SentenceTransformer) -> dict[str, Any]:
        return {
            "embedding_dimension": embedding_dimension(model),
            "max_seq_length": int(model.max_seq_length or 0),
            "parameters": int(sum(p.numel() for p in model.parameters())),
        }

    def save_visualizations(self, model: SentenceTransformer) -> dict[str, VisualizationType]:
        card = os.path.join(self.uri, "README.md")
        return {card: VisualizationType.MARKDOWN} if fileio.exists(card) else {}
