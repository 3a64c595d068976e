"""Stores a SentenceTransformer as a plain model directory (safetensors + tokenizer + config).

The artifact folder is loadable without ZenML by `SentenceTransformer(<artifact uri>)`; nothing is pickled.

A model trained with `training.lora_save: adapter` is stored as its adapter folder (adapter_config.json +
adapter_model.safetensors, megabytes; `embedtune.models.adapters`), which `SentenceTransformer(uri)` loads
on the base its adapter_config.json names. That reference is machine-specific when the base is a local
folder (the bundled MiniLM inside its Python package, a path), so the artifact's metadata also records
the base's name and fingerprint; `load` finds the base again by that name on another machine (the
bundled MiniLM of that machine, the Hub cache) and refuses, in one line, a base that is missing or differs.
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
from embedtune.models import adapters
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
            adapters.localize(temp_dir, in_place=True, label=self.uri)  # an adapter's base, found here (or one error)
            model = SentenceTransformer(temp_dir, local_files_only=True, device=select_device("auto"))  # no log line
            return adapters.after_load(model, temp_dir)

    def save(self, model: SentenceTransformer) -> None:
        with self.get_temporary_directory(delete_at_exit=True) as temp_dir:
            model.save(temp_dir, safe_serialization=True, create_model_card=False)
            publishing.write_card(temp_dir, publishing.model_card(training_card_facts(model)))
            io_utils.copy_dir(temp_dir, self.uri)

    def extract_metadata(self, model: SentenceTransformer) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "embedding_dimension": embedding_dimension(model),
            "max_seq_length": int(model.max_seq_length or 0),
            "parameters": int(sum(p.numel() for p in model.parameters())),
        }
        base = adapters.attached_base(model)
        if base is not None:  # stored as a LoRA adapter: what it needs to load anywhere
            metadata.update({
                "saved_as": "lora_adapter",
                "adapter_parameters": int(sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)),
                "adapter_base_model": base.name, "adapter_base_reference": base.reference,
                "adapter_base_fingerprint": base.fingerprint,
            })
        return metadata


def training_card_facts(model: SentenceTransformer) -> publishing.CardFacts:
    """What the card can say when the model is stored: the base model, its license and the corpus, from the
    running step's pipeline parameters (outside a step: the base a LoRA adapter names, else the one
    sentence-transformers recorded), and whether it is saved as a LoRA adapter."""
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
    adapter = adapters.attached_base(model)
    base = settings.get("model", {}).get("base_model") or (adapter.name if adapter else None) or \
        getattr(model.model_card_data, "base_model", None)
    hub_id, catalog_license = publishing.base_model_facts(str(base)) if base else (None, None)
    dims = settings.get("model", {}).get("matryoshka_dims") or ()
    return publishing.CardFacts(
        base_model=str(base or "unknown"), base_model_id=hub_id, license=catalog_license or license_name,
        corpus=settings.get("ingest", {}).get("corpus"), matryoshka_dims=dims,
        loss=settings.get("training", {}).get("loss"), adapter_base=adapter.reference if adapter else None,
    )
