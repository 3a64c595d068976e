"""Fine-tune a SentenceTransformer on (query, positive[, negative]) pairs.

Workflow:
1. Build train/validation datasets; the mined negative becomes a third column when every row has one.
2. Losses (`training.loss`, built in `embedtune.training.losses`), each wrapped in MatryoshkaLoss so
   truncated embeddings stay useful: `mnrl` (in-batch negatives), `margin_mse` (the teacher's margins),
   `distill_kl` (listwise: the teacher's ranking of the positive and its negatives), or `mnrl+<other>`.
3. Validation: query -> chunk retrieval NDCG@10 decides the best checkpoint (never the test split).
4. Large models: `training.lora` trains LoRA adapters only (`embedtune.training.lora`; merged into the
   weights afterwards, so the result saves as a plain model, or with `training.lora_save: adapter` kept
   apart, so it saves as an adapter folder on its base: `embedtune.models.adapters`), `training.gradient_checkpointing` trades
   compute for activation memory, and the memory the run needs is estimated first
   (`embedtune.training.memory`): a run that cannot fit the device is refused with a setting that fits.
5. Train with a fixed seed; fp16/bf16 only on hardware that supports it. A progress bar when stderr is a
   terminal (`training.progress_bar`), and one log line per training log and per evaluation
   (`embedtune.training.progress`).
6. `training.merge_with_base` < 1: the weights move back towards the base's (WiSE-FT,
   `embedtune.training.merging`).
"""

from __future__ import annotations

import math
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedtune import EmbedtuneError, logger
from embedtune.config import ModelConfig, TrainingConfig
from embedtune.models.devices import enable_tf32, peak_memory_gb, precision_flags, reset_peak_memory
from embedtune.models.encoding import model_prompts
from embedtune.models.loading import embedding_dimension
from embedtune.training import lora, memory, merging, progress
from embedtune.training.losses import build_datasets_and_losses, listed, one_row_per_query

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

VALIDATION_NAME = "validation"


@dataclass
class TrainingResult:
    model: SentenceTransformer
    metrics: dict[str, Any] = field(default_factory=dict)


def validation_evaluator(
    validation: Sequence[dict[str, Any]],
    chunks: Sequence[dict[str, Any]],
    config: TrainingConfig,
    query_prompt: str = "",
    document_prompt: str = "",
):
    """Retrieval over the validation positives plus a seeded sample of other chunks."""
    from sentence_transformers.evaluation import InformationRetrievalEvaluator

    if not validation:
        return None
    positives = {p["positive_id"] for p in validation}
    others = [c["chunk_id"] for c in chunks if c["chunk_id"] not in positives]
    random.Random(config.seed).shuffle(others)
    keep = positives | set(others[: max(0, config.validation_corpus_size - len(positives))])
    corpus = {c["chunk_id"]: c["text"] for c in chunks if c["chunk_id"] in keep}
    queries = {p["id"]: p["query"] for p in validation}
    relevant = {p["id"]: {p["positive_id"]} for p in validation}
    return InformationRetrievalEvaluator(
        queries=queries,
        corpus=corpus,
        relevant_docs=relevant,
        name=VALIDATION_NAME,
        main_score_function="cosine",
        query_prompt=query_prompt or None,
        corpus_prompt=document_prompt or None,
        batch_size=64,
        write_csv=False,
    )


def compact_history(log_history: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
    """The step, training loss and validation NDCG@10 of each transformers log entry (nothing else: the
    history goes into step metadata and the report)."""
    keep = ("step", "epoch", "loss", f"eval_{VALIDATION_NAME}_cosine_ndcg@10")
    out = []
    for entry in log_history:
        values = {key: round(float(entry[key]), 6) for key in keep if isinstance(entry.get(key), (int, float))}
        if "step" in values and ("loss" in values or keep[3] in values):
            out.append(values)
    return out


def latest_checkpoint(directory: str | Path) -> str | None:
    """The newest complete checkpoint (one cut off by a kill is skipped); see embedtune.training.checkpoints."""
    from embedtune.training.checkpoints import latest_checkpoint as newest_complete

    return newest_complete(directory)


def _checkpoint_run_dir(config: TrainingConfig, model_config: ModelConfig, datasets: dict[str, Any],
                        validation: Sequence[dict[str, Any]]) -> Path:
    """Checkpoints of exactly this training (settings, base model, data): a changed run never resumes
    another's optimizer state."""
    from embedtune.training.checkpoints import run_directory

    settings = config.model_dump(exclude={"checkpoint_dir", "progress_bar", "memory_check"})
    data = {name: dataset.to_dict() for name, dataset in datasets.items()}
    return run_directory(config.checkpoint_dir, settings, model_config.model_dump(), data,
                         sorted(str(p.get("id")) for p in validation))


def checkpointing_arguments(enabled: bool, arguments_class: type) -> dict[str, Any]:
    """Training arguments for gradient checkpointing, non-reentrant (it works with LoRA's frozen inputs), under
    the name this transformers has (`activation_checkpointing` since 5.x, `gradient_checkpointing` before)."""
    if not enabled:
        return {}
    fields = getattr(arguments_class, "__dataclass_fields__", {})
    name = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    return {name: True, f"{name}_kwargs": {"use_reentrant": False}}


def prepare_parameters(model: SentenceTransformer, config: TrainingConfig) -> int:
    """Make `model` ready to train as `config` says: LoRA adapters added (everything else frozen) or every
    weight trainable. Returns the trainable parameters. Full fine-tuning of bf16/fp16 weights is refused:
    half-precision rounding swallows updates at fine-tuning learning rates (and fp16 master weights break
    the Trainer's gradient scaling)."""
    half = sorted({str(p.dtype).removeprefix("torch.") for p in model.parameters() if p.element_size() == 2
                   and p.is_floating_point()})
    if config.lora:
        return lora.add_lora(model, config)
    if half:
        raise EmbedtuneError(
            f"full fine-tuning needs float32 weights, but the model loaded in {', '.join(half)} (model.dtype): "
            "set training.lora: true (adapters train in fp32 on top of the half-precision weights), or "
            "model.dtype: float32"
        )
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def train_embedder(
    model: SentenceTransformer,
    train: Sequence[dict[str, Any]],
    validation: Sequence[dict[str, Any]],
    chunks: Sequence[dict[str, Any]],
    model_config: ModelConfig,
    config: TrainingConfig,
    callbacks: Sequence[Any] = (),
) -> TrainingResult:
    """Fine-tune `model` in place and return it with the run's metrics.

    `callbacks`: extra transformers TrainerCallbacks (e.g. embedtune.tracking.mlflow's metrics callback).
    With `config.lora` the returned model has its adapters merged: every weight is a plain weight again;
    with `config.lora_save == "adapter"` they stay apart and `model.save(path)` writes an adapter folder.
    Raises EmbedtuneError before training when the data, the Matryoshka dims or the device's memory cannot
    work (full fine-tuning of half-precision weights included: it needs LoRA or float32 weights)."""
    from datasets import DatasetDict
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.training_args import BatchSamplers, MultiDatasetBatchSamplers
    from transformers import set_seed

    query_prompt, document_prompt = model_prompts(model)  # decided by the model's ModelSpec at load time
    if len(train) < 2:
        raise EmbedtuneError(f"only {len(train)} training pair(s) after filtering; need at least 2 (add documents)")
    dimension = embedding_dimension(model)
    too_large = [d for d in model_config.matryoshka_dims if d > dimension]
    if too_large:
        raise EmbedtuneError(f"model.matryoshka_dims {too_large} exceed the model's dimension {dimension}")

    # 1. Data: in-batch negatives come from the per-device batch, so keep it as large as memory allows.
    set_seed(config.seed)
    device = str(model.device)
    precision = precision_flags(config.precision, device, config.tf32)  # bf16 on Ampere+, fp16 older GPUs, else fp32
    enable_tf32(precision["tf32"], device)
    batch_size = min(config.batch_size, len(one_row_per_query(train)))
    base_weights = merging.snapshot(model) if config.merge_with_base < 1 else None  # WiSE-FT, after training
    trainable = prepare_parameters(model, config)
    # training.lora_save: adapter names the base folder in the saved adapter; refused now if there is none
    adapter_base = lora.adapter_base(model, model_config.base_model) if config.lora and config.lora_save == "adapter" \
        else None
    negatives = Counter(row.get("id") for row in train if row.get("negative") and row.get("label") is not None)
    shape = memory.training_shape(model, config, batch_size, device, precision["bf16"] or precision["fp16"],
                                  margin_texts=2 + max([*negatives.values(), *map(len, map(listed, train))],
                                                       default=1))
    estimate = memory.check_training_memory(shape, config, batch_size, model_config.base_model)
    evaluator = validation_evaluator(validation, chunks, config, query_prompt, document_prompt)

    # 2. Losses (config.loss), each in MatryoshkaLoss; one dataset per loss.
    datasets, losses = build_datasets_and_losses(model, train, model_config, config, batch_size)
    train_dataset: Any = DatasetDict(datasets) if len(datasets) > 1 else next(iter(datasets.values()))
    loss: Any = losses if len(losses) > 1 else next(iter(losses.values()))
    rows = sum(len(dataset) for dataset in datasets.values())

    steps_per_epoch = max(1, math.ceil(rows / batch_size))
    eval_steps = max(1, steps_per_epoch // config.evals_per_epoch)
    show_bar = progress.show_progress_bar(config.progress_bar)
    output_dir = str(_checkpoint_run_dir(config, model_config, datasets, validation)) if config.checkpoint_dir \
        else tempfile.mkdtemp(prefix="embedtune-train-")
    prompts = {"anchor": query_prompt, "positive": document_prompt}
    for dataset in datasets.values():  # negative / negative_1..negative_k are passages too
        prompts.update({column: document_prompt for column in dataset.column_names if column.startswith("negative")})
    args = SentenceTransformerTrainingArguments(
        output_dir=output_dir,
        num_train_epochs=config.epochs,
        per_device_train_batch_size=batch_size,  # = in-batch negatives seen by the loss
        learning_rate=config.learning_rate,  # 2e-5: small steps keep the pre-trained geometry
        warmup_steps=config.warmup_ratio,  # a float is a ratio; avoids early large updates wrecking the base
        weight_decay=config.weight_decay,
        batch_sampler=BatchSamplers.NO_DUPLICATES,  # a duplicate text in a batch is a false negative
        multi_dataset_batch_sampler=MultiDatasetBatchSamplers.PROPORTIONAL,  # mnrl+margin_mse: by size
        seed=config.seed,
        data_seed=config.seed,
        eval_strategy="steps" if evaluator else "no",
        eval_steps=eval_steps,
        save_strategy="steps" if evaluator or config.checkpoint_dir else "no",  # checkpoints make a kill resumable
        save_steps=eval_steps,
        save_total_limit=2,
        load_best_model_at_end=evaluator is not None,  # selection on validation, never on test
        metric_for_best_model=f"eval_{VALIDATION_NAME}_cosine_ndcg@10" if evaluator else None,
        greater_is_better=True,
        logging_steps=max(1, eval_steps // 2),
        prompts={key: value for key, value in prompts.items() if value} or None,
        report_to="none",  # tracking goes through ZenML's experiment tracker, not HF callbacks
        dataloader_num_workers=0,
        disable_tqdm=not show_bar,
        **checkpointing_arguments(config.gradient_checkpointing, SentenceTransformerTrainingArguments),
        **precision,
        **({"use_cpu": True} if device == "cpu" and precision["bf16"] else {}),  # CPU autocast: transformers asks
    )
    trainer_class = lora.trainer_class(SentenceTransformerTrainer) if config.lora else SentenceTransformerTrainer
    extra = [lora.AdapterCheckpoints(model)] if config.lora else []
    trainer = trainer_class(
        model=model, args=args, train_dataset=train_dataset, loss=loss, evaluator=evaluator,
        callbacks=[*callbacks, *extra] or None,
    )
    summary = progress.TrainingSummary(VALIDATION_NAME, args.metric_for_best_model)
    progress.install(trainer, summary, show_bar)
    # 3. Train (resumes from the newest checkpoint when a checkpoint_dir from a crashed run exists).
    resume = latest_checkpoint(output_dir) if config.checkpoint_dir else None
    if resume:
        logger.info("resuming training from %s (training.checkpoint_dir)", resume)
    reset_peak_memory(device)
    started = time.perf_counter()
    try:
        with progress.quiet_evaluator(evaluator):
            output = trainer.train(resume_from_checkpoint=resume)
    finally:
        if not config.checkpoint_dir:  # the best checkpoint is in memory now; nothing is left behind in /tmp
            shutil.rmtree(output_dir, ignore_errors=True)
    seconds = time.perf_counter() - started
    if adapter_base is not None:
        lora.keep_adapter(model, adapter_base)  # saves as adapter_config.json + adapter weights on the base
    elif config.lora:
        lora.merge_lora(model)  # plain weights again: saves and loads as an ordinary SentenceTransformer
    if base_weights is not None:  # WiSE-FT: keep some of the base model (embedtune.training.merging)
        merging.interpolate(model, base_weights, config.merge_with_base)
    metrics = {
        "train_pairs": len(one_row_per_query(train)),
        "train_rows": {name: len(dataset) for name, dataset in datasets.items()},
        "loss": config.loss,
        "validation_pairs": len(validation),
        "uses_negatives": any(column.startswith("negative") for dataset in datasets.values()
                              for column in dataset.column_names),
        "train_seconds": round(seconds, 2),
        "train_pairs_per_second": round(rows * config.epochs / seconds, 3),
        "train_loss": float(output.training_loss),
        "global_steps": int(output.global_step),
        "device": device,
        "precision": "bf16" if precision["bf16"] else "fp16" if precision["fp16"] else "fp32",
        "weights_dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "lora": config.lora,
        "lora_save": config.lora_save if config.lora else "none",
        "trainable_parameters": trainable,
        "gradient_checkpointing": config.gradient_checkpointing,
        "estimated_memory_gb": round(estimate.total / memory.GIB, 3),
        "merge_with_base": config.merge_with_base,
    }
    if device.startswith("cuda"):
        metrics["peak_gpu_memory_gb"] = peak_memory_gb()
    if resume:
        metrics["resumed_from"] = Path(resume).name
    metrics["log_history"] = compact_history(trainer.state.log_history)  # the report's training curves
    if evaluator is not None and trainer.state.best_metric is not None:
        metrics["best_validation_ndcg@10"] = float(trainer.state.best_metric)
        metrics["best_checkpoint"] = Path(trainer.state.best_model_checkpoint or "").name
    logger.info("trained on %d rows in %.1fs (%s)", rows, seconds, metrics)
    return TrainingResult(model=model, metrics=metrics)
