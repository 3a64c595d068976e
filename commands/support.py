"""What `run.py` needs around the pipelines: config preparation, checks before work, summaries after."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from embedtune import EmbedtuneError, logger
from embedtune.config import EmbedtuneConfig, load_run_config
from embedtune.data import ingest
from embedtune.evaluation.benchmark import full_dim
from embedtune.models.catalog import is_api_spec
from embedtune.models.loading import check_matryoshka_dims
from embedtune.models.paths import resolve_model
from embedtune.reporting.evaluation import format_table, to_html
from embedtune.util.errors import error_chain
from embedtune.util.io import write_json
from embedtune.util.redact import redact, redact_url

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


class _UserErrorTracebacks(logging.Filter):
    """Drops the traceback ZenML's orchestrator logs for a failed step when the cause is an
    EmbedtuneError: run.py prints that as one `error: ...` line (with `--verbose`, as a traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None and user_facing_message(record.exc_info[1]):
            record.exc_info = None
            record.exc_text = None
        return True


ORCHESTRATOR_LOGGERS = ("zenml.orchestrators.local.local_orchestrator",)


def ensure_zenml_store(connect_timeout_s: float = 3.0) -> None:
    """Open the ZenML store before any pipeline module is imported (importing one already talks to it).

    - A ZenML server (`ZENML_STORE_URL` or `zenml login`) that does not answer is one clear error after
      a few seconds, instead of ~30 s of HTTP retries and a traceback; one that refuses the credentials
      likewise. Credentials are never part of the message.
    - A fresh local SQLite store is created and migrated by one process at a time: two first runs
      started together otherwise race on the migrations, and one fails with ZenML's misleading
      "database has never been migrated" error. Once it exists, concurrent runs are safe (SQLite
      serialises the writes; every run gets its own artifact folders and versions).
    """
    import os
    import socket
    from urllib.parse import urlsplit

    from zenml.config.global_config import GlobalConfiguration

    for name in ORCHESTRATOR_LOGGERS:
        orchestrator_logger = logging.getLogger(name)
        if not any(isinstance(f, _UserErrorTracebacks) for f in orchestrator_logger.filters):
            orchestrator_logger.addFilter(_UserErrorTracebacks())
    config = GlobalConfiguration()
    store = config.store_configuration
    url = redact_url(str(store.url))  # never echo credentials embedded in a URL
    if str(store.type) == "rest":
        parts = urlsplit(str(store.url))
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname or "localhost", port), timeout=connect_timeout_s).close()
        except OSError as error:
            raise EmbedtuneError(
                f"cannot reach the ZenML server at {url} ({error.strerror or error}); start it (`make dashboard`), "
                "or run `zenml logout` (and unset ZENML_STORE_URL) to use the local store"
            ) from None
    secrets = [os.environ.get(name, "") for name in ("ZENML_STORE_API_KEY", "ZENML_STORE_PASSWORD", "ZENML_STORE_API_TOKEN")]
    lock = None
    try:
        import fcntl

        lock_path = Path(config.config_directory) / "embedtune-store.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = lock_path.open("a")
        fcntl.flock(lock, fcntl.LOCK_EX)
    except (ImportError, OSError) as error:  # no POSIX locks (Windows) or read-only config: go on unlocked
        logger.debug("no ZenML store lock: %s", error)
    try:
        config.zen_store  # noqa: B018 - creates, migrates or connects to the store
    except Exception as error:  # noqa: BLE001 - ZenML raises many types; the message is what matters
        detail = redact(" ".join(str(error).split())[:300], secrets)
        raise EmbedtuneError(f"cannot use the ZenML store at {url}: {type(error).__name__}: {detail}") from None
    finally:
        if lock is not None:
            lock.close()  # releases the flock


def check_benchmark_folder(benchmark: str, split: str) -> None:
    """Fail before any work when `benchmark` is not a BEIR folder with `qrels/<split>.tsv`."""
    folder = Path(benchmark)
    if not (folder / "qrels" / f"{split}.tsv").is_file() or not (folder / "corpus.jsonl").is_file():
        raise EmbedtuneError(f"{folder} is not a BEIR folder with corpus.jsonl and qrels/{split}.tsv")


def resolve_model_args(models: list[str]) -> list[str]:
    """Every `--model` checked before any work (an unknown one is one clear error); duplicates dropped,
    local folders made absolute, API models (`provider:model`) passed as they are."""
    resolved = []
    for model in dict.fromkeys(models):
        if is_api_spec(model):
            resolved.append(model)
            continue
        resolve_model(model)
        path = Path(model).expanduser()
        resolved.append(str(path.resolve()) if path.is_dir() else model)
    return resolved


def check_benchmark_inputs(models: list[str], benchmark: str, split: str) -> list[str]:
    check_benchmark_folder(benchmark, split)
    return resolve_model_args(models)


@contextlib.contextmanager
def options_file(options: dict[str, Any], no_cache: bool = False) -> Iterator[str]:
    """ZenML options (model, settings, schedule ...) as a temporary run-config file for with_options.
    `no_cache` goes into the file: a run config's `enable_cache: true` beats with_options(enable_cache=False)."""
    if no_cache:
        options = {**options, "enable_cache": False}
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
        from embedtune.training.checkpoints import save_model_atomically

        save_model_atomically(model_artifact.load(), export_dir)  # a kill mid-export leaves the old export
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
    return next((str(link) for link in error_chain(error) if isinstance(link, EmbedtuneError)), None)


def write_samples(count: int, seed: int, output: str, command: str) -> Path:
    """Sample the latest `synthetic_pairs` (marking what `filter_pairs` kept) into a markdown file."""
    from zenml.client import Client

    from embedtune.reporting.samples import pairs_markdown
    from embedtune.util.frames import to_records

    client = Client()
    pairs_artifact = client.get_artifact_version("synthetic_pairs")
    kept = {row["id"] for row in to_records(client.get_artifact_version("filtered_pairs").load())}
    pairs = to_records(pairs_artifact.load())
    source = str(client.get_artifact_version("documents").run_metadata.get("corpus", "the latest corpus"))
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pairs_markdown(pairs, kept, count, seed, command, source), encoding="utf-8")
    return path


# The training pipelines by the names the commands use (declared once; `schedule` offers the same names).
PIPELINES = {
    "end_to_end": "end_to_end",
    "generate": "generate_data",
    "finetune": "finetune",
    "finetune_curated": "finetune_curated",
}


def training_pipeline(name: str) -> Any:
    """The ZenML pipeline object for a command-level name (`end_to_end`, `generate`, `finetune`, ...)."""
    import pipelines

    return getattr(pipelines, PIPELINES[name])
