"""Stores a SentenceTransformer as a plain model directory (safetensors + tokenizer + config).

The artifact folder is loadable without ZenML by `SentenceTransformer(<artifact uri>)`; nothing is pickled.
Its README.md is embedtune's model card (embedtune.publishing), never sentence-transformers' automatic one
(which copies training passages verbatim and names the model `sentence_transformers_model_id`): written here
with what is known at training time, then completed by the `promote` step with the test results and the
decision. The dashboard shows the card through the `model_card` artifact, without its YAML header.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sentence_transformers import SentenceTransformer
from zenml.enums import ArtifactType
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.utils import io_utils

from embedtune import logger, publishing
from embedtune.models.devices import select_device
from embedtune.models.loading import embedding_dimension
from embedtune.reporting.evaluation import run_config


class SentenceTransformerMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (SentenceTransformer,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.MODEL

    def load(self, data_type: type[Any]) -> SentenceTransformer:
        # Kept until the step ends: weights may be memory-mapped from these files.
        with self.get_temporary_directory(delete_at_exit=False) as temp_dir:
            io_utils.copy_dir(self.uri, temp_dir)
            return SentenceTransformer(temp_dir, local_files_only=True, device=select_device("auto"))  # no log line

    def save(self, model: SentenceTransformer) -> None:
        with self.get_temporary_directory(delete_at_exit=True) as temp_dir:
            model.save(temp_dir, safe_serialization=True, create_model_card=False)
            publishing.write_card(temp_dir, publishing.model_card(training_card_facts(model)))
            io_utils.copy_dir(temp_dir, self.uri)

    def extract_metadata(self, model: SentenceTransformer) -> dict[str, Any]:
        return {
            "embedding_dimension": embedding_dimension(model),
            "max_seq_length": int(model.max_seq_length or 0),
            "parameters": int(sum(p.numel() for p in model.parameters())),
        }


def training_card_facts(model: SentenceTransformer) -> publishing.CardFacts:
    """What the card can say when the model is stored: the base model, its license and the corpus, from the
    running step's pipeline parameters (outside a step: the base model sentence-transformers recorded)."""
    settings: dict[str, Any] = {}
    license_name = None
    try:
        from zenml import get_step_context

        context = get_step_context()
        settings = run_config(context.pipeline_run)
        if context.model_version is not None:
            license_name = context.model.license
    except Exception as error:  # noqa: BLE001 - saved outside a step (tests, scripts): the model alone
        logger.debug("model card without the run's settings: %s", error)
    base = settings.get("model", {}).get("base_model") or getattr(model.model_card_data, "base_model", None)
    hub_id, catalog_license = publishing.base_model_facts(str(base)) if base else (None, None)
    dims = settings.get("model", {}).get("matryoshka_dims") or ()
    return publishing.CardFacts(
        base_model=str(base or "unknown"), base_model_id=hub_id, license=catalog_license or license_name,
        corpus=settings.get("ingest", {}).get("corpus"), matryoshka_dims=dims,
        loss=settings.get("training", {}).get("loss"),
    )
