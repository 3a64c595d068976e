"""What `run.py` needs around the pipelines: config preparation, checks before work, summaries after."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from embedtune import EmbedtuneError, ingest, logger
from embedtune.config import EmbedtuneConfig, load_run_config
from embedtune.evaluation import format_table, full_dim
from embedtune.models import check_matryoshka_dims, resolve_model
from embedtune.report import to_html, write_json

OUTPUT_DIR = Path("outputs")


def prepare(config_path: str, corpus: str | None, needs_corpus: bool) -> tuple[EmbedtuneConfig, dict[str, Any]]:
    """Validate everything a run needs before any work starts."""
    config, options = load_run_config(config_path)
    if corpus:
        config.ingest.corpus = corpus
    if needs_corpus:
        ingest.check_corpus(config.ingest)
    check_matryoshka_dims(config.model.base_model, config.model.matryoshka_dims)
    return config, options


def check_benchmark_inputs(models: list[str], benchmark: str, split: str) -> list[str]:
    folder = Path(benchmark)
    qrels = folder / "qrels" / f"{split}.tsv"
    if not qrels.is_file() or not (folder / "corpus.jsonl").is_file():
        raise EmbedtuneError(f"{folder} is not a BEIR folder with corpus.jsonl and qrels/{split}.tsv")
    for model in models:
        resolve_model(model)
    return [str(Path(m).resolve()) if Path(m).expanduser().is_dir() else m for m in models]


@contextlib.contextmanager
def options_file(options: dict[str, Any]) -> Iterator[str]:
    """ZenML options (model, settings, schedule ...) as a temporary run-config file for with_options."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(options, handle)
    try:
        yield handle.name
    finally:
        Path(handle.name).unlink(missing_ok=True)


def _output(run: Any, step: str, name: str) -> Any:
    outputs = run.steps[step].outputs[name]
    artifact = outputs[0] if isinstance(outputs, list) else outputs
    return artifact


def _fresh(run: Any) -> Any:
    from zenml.client import Client

    return Client().get_pipeline_run(run.id) if run is not None else None


def summarise_training_run(run: Any, export_dir: str | None) -> None:
    run = _fresh(run)
    if run is None:
        logger.info("the pipeline was scheduled; it will run on the orchestrator")
        return
    print(f"\nPipeline run: {run.name} ({run.status.value})")
    if "evaluate" not in run.steps:
        triplets = _output(run, "mine_negatives", "training_triplets")
        print(f"Training pairs: artifact 'training_triplets' version {triplets.version} ({triplets.uri})")
        print("Next: python run.py finetune")
        return
    model_artifact = _output(run, "train_embedder", "tuned_model")
    report = _output(run, "evaluate", "evaluation_report").load()
    promotion = _output(run, "promote", "promotion").load()
    report["promotion"] = promotion
    OUTPUT_DIR.mkdir(exist_ok=True)
    json_path = write_json(report, OUTPUT_DIR / "evaluation_report.json")
    html_path = OUTPUT_DIR / "evaluation_report.html"
    html_path.write_text(to_html(report), encoding="utf-8")
    print(format_table(report))
    dim = full_dim(report, "tuned")
    base, tuned = report["models"]["base"][dim]["ndcg@10"], report["models"]["tuned"][dim]["ndcg@10"]
    print(f"\nNDCG@10 on held-out queries: base {base:.4f} -> tuned {tuned:.4f}. {promotion['reason']}")
    print(f"Tuned model (artifact, a SentenceTransformer directory): {model_artifact.uri}")
    if export_dir:
        model_artifact.load().save(str(export_dir))
        print(f"Tuned model exported to: {Path(export_dir).resolve()}")
    print(f"Report: {html_path.resolve()} and {json_path.resolve()}")
    print("Dashboard: run `make dashboard` (zenml login --local), then open the run above.")


def summarise_benchmark_run(run: Any, output: str | None) -> None:
    run = _fresh(run)
    report = _output(run, "evaluate_benchmark", "benchmark_report").load()
    print(format_table(report))
    if output:
        print(f"Metrics written to {write_json(report, output).resolve()}")


def user_facing_message(error: BaseException) -> str | None:
    """The one-line message for errors a user can fix, found anywhere in the exception chain."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, EmbedtuneError):
            return str(current)
        current = current.__cause__ or current.__context__
    return None


def write_samples(count: int, seed: int, output: str, command: str) -> Path:
    """Sample the latest `synthetic_pairs` (marking what `filter_pairs` kept) into a markdown file."""
    from zenml.client import Client

    from embedtune.examples import pairs_markdown
    from embedtune.frames import to_records

    client = Client()
    pairs_artifact = client.get_artifact_version("synthetic_pairs")
    kept = {row["id"] for row in to_records(client.get_artifact_version("filtered_pairs").load())}
    pairs = to_records(pairs_artifact.load())
    source = str(client.get_artifact_version("documents").run_metadata.get("corpus", "the latest corpus"))
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pairs_markdown(pairs, kept, count, seed, command, source), encoding="utf-8")
    return path
