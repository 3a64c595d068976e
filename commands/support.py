"""What `run.py` needs around the pipelines: config preparation, checks before work, summaries after."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from requests.adapters import HTTPAdapter

from commands.errors import user_facing_message
from embedtune import EmbedtuneError, logger
from embedtune.config import EmbedtuneConfig, load_run_config
from embedtune.data import ingest
from embedtune.data.beir import check_beir
from embedtune.data.chunking import fit_to_model
from embedtune.models.catalog import is_api_spec
from embedtune.models.loading import check_matryoshka_dims
from embedtune.models.paths import resolve_model
from embedtune.reporting.evaluation import format_table, headline, to_html
from embedtune.tracking import images
from embedtune.util.io import export_directory, point_latest, run_output_dir, write_json
from embedtune.util.redact import fields_with_url_credentials, redact, redact_url

OUTPUT_DIR = Path("outputs")
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def prepare(config_path: str, corpus: str | None, needs_corpus: bool) -> tuple[EmbedtuneConfig, dict[str, Any]]:
    """Validate everything a run needs before any work starts; chunks longer than the base model reads
    are cut to fit, with a warning (`embedtune.data.chunking.fit_to_model`)."""
    config, options = load_run_config(config_path)
    check_config_urls(config)
    if corpus:
        config.ingest.corpus = corpus
    if needs_corpus:
        ingest.check_corpus(config.ingest)  # a remote URI (s3://...) is read only inside load_documents
    if images.base_model_checked_here(config, options, PROJECT_ROOT):
        check_matryoshka_dims(config.model.base_model, config.model.matryoshka_dims)
        own_limit = model_max_tokens(config.model.base_model)
        model_tokens = min(config.model.max_seq_length, own_limit or config.model.max_seq_length)
        config.chunking = fit_to_model(config.chunking, model_tokens, config.model.base_model)
    else:
        logger.info("base model %s is read inside the steps: not checked here", config.model.base_model)
    return config, images.submission_options(config, options, PROJECT_ROOT)  # image extras, remote corpus


def model_max_tokens(name_or_path: str) -> int | None:
    """The most tokens a local SentenceTransformer reads, from its saved configuration (the first of
    `sentence_bert_config.json`, the tokenizer's `model_max_length`, the transformer's
    `max_position_embeddings`), without loading weights; None when none says."""
    import json

    try:
        folder = Path(resolve_model(name_or_path))
    except EmbedtuneError:
        return None
    for name, key in (
        ("sentence_bert_config.json", "max_seq_length"),  # sentence-transformers < 5
        ("tokenizer_config.json", "model_max_length"),  # sentence-transformers 5 saves it here
        ("config.json", "max_position_embeddings"),
    ):
        try:
            value = json.loads((folder / name).read_text(encoding="utf-8")).get(key)
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(value, int) and 0 < value < 1_000_000:  # tokenizers without a limit say 1e30
            return value
    return None


def check_config_urls(config: EmbedtuneConfig) -> None:
    """Refuse a config field holding a URL with credentials (`http://user:password@host`): ZenML stores
    the run's parameters in its database and step logs, so the password would be saved there."""
    fields = fields_with_url_credentials(config.model_dump(mode="json"))
    if fields:
        raise EmbedtuneError(
            f"{', '.join(fields)} holds a URL with a user name or password (user:***@host); ZenML would store it "
            "with the run: remove it from the URL and put the key in the environment variable the section names "
            "(e.g. generation.openai.api_key_env)"
        )


class _UserErrorTracebacks(logging.Filter):
    """Drops the traceback ZenML's orchestrator logs for a failed step when the cause is an
    EmbedtuneError: run.py prints that as one `error: ...` line (with `--verbose`, as a traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None and user_facing_message(record.exc_info[1]):
            record.exc_info = None
            record.exc_text = None
        return True


# ZenML loggers that log a failed step with its traceback (`logger.exception`).
ORCHESTRATOR_LOGGERS = (
    "zenml.orchestrators.local.local_orchestrator",
    "zenml.orchestrators.step_launcher",
    "zenml.orchestrators.dag_runner",
    "zenml.orchestrators.legacy_dag_runner",
)


# ZenML's REST client (0.98) retries a refused connection 5 times and a broken one 8 times, waits doubling up to
# 120 s, each attempt with a 30 s connect timeout: a server that died mid-run held `run` for about 3 minutes on
# the first request and again on each request ZenML then makes to record the failure. Bounded: a refused
# connection costs about 6 s of retries per request, a silent (firewalled) host 10 s per attempt.
SERVER_RETRIES = {"connect": 3, "read": 3, "backoff_factor": 1.0, "backoff_max": 4.0}
SERVER_CONNECT_TIMEOUT_S = 10.0


def ensure_zenml_store(connect_timeout_s: float = 3.0) -> None:
    """Open the ZenML store before any pipeline module is imported (importing one already talks to it).

    - A ZenML server (`ZENML_STORE_URL` or `zenml login`) that does not answer is one clear error after
      a few seconds, instead of ~30 s of HTTP retries and a traceback; one that refuses the credentials
      likewise. Credentials are never part of the message.
    - A server that goes away later (mid-run) is told within about a minute (`bound_server_retries`), as one
      `error:` line naming its URL and how to restart it (`commands.errors`); the next run resumes from the
      cache.
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
        store = config.zen_store  # creates, migrates or connects to the store
    except Exception as error:  # noqa: BLE001 - ZenML raises many types; the message is what matters
        detail = redact(" ".join(str(error).split())[:300], secrets)
        raise EmbedtuneError(f"cannot use the ZenML store at {url}: {type(error).__name__}: {detail}") from None
    finally:
        if lock is not None:
            lock.close()  # releases the flock
    if str(store.type) == "rest":
        bound_server_retries(store)


class _ConnectTimeoutAdapter(HTTPAdapter):
    """requests' transport with a connect timeout of its own (`SERVER_CONNECT_TIMEOUT_S`): ZenML passes one
    timeout (`http_timeout`, 30 s) that requests applies to connecting and to reading alike."""

    def send(self, request: Any, stream: bool = False, timeout: Any = None, verify: Any = True, cert: Any = None,
             proxies: Any = None) -> Any:
        if isinstance(timeout, (int, float)):
            timeout = (min(float(timeout), SERVER_CONNECT_TIMEOUT_S), timeout)
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


def bound_server_retries(store: Any) -> None:
    """Replace the HTTP transport of ZenML's REST store session with one that retries a lost connection less
    (`SERVER_RETRIES`; ZenML's retried methods and status codes such as 502 and 503 are kept) and gives up
    connecting sooner (`_ConnectTimeoutAdapter`).

    Args:
        store: the client's `RestZenStore` (`GlobalConfiguration().zen_store`, what `Client()` uses).
    """
    session = store.session
    retries = session.get_adapter(store.url).max_retries.new(**SERVER_RETRIES)
    adapter = _ConnectTimeoutAdapter(max_retries=retries, pool_maxsize=store.config.connection_pool_size)
    for prefix in ("https://", "http://"):
        session.mount(prefix, adapter)


def require_artifacts(*names: str) -> None:
    """Look up the latest version of each named artifact before a pipeline starts: a missing one (no
    `generate` run yet) is ZenML's KeyError, which `commands.errors` turns into one line naming the fix."""
    from zenml.client import Client

    client = Client()
    for name in names:
        client.get_artifact_version(name)


def check_benchmark_folder(benchmark: str, split: str) -> None:
    """Fail before any work when `benchmark` is not a usable BEIR folder for `split` (missing files, text
    that is not UTF-8, a score that is not a whole number); warn about judgements of unknown ids."""
    check_beir(benchmark, split)


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


def export_model(model_artifact: Any, export_dir: str, run_name: str, card: str | None = None) -> Path:
    """Copy the `tuned_model` artifact folder (already a plain SentenceTransformer directory) into
    `export_dir` through `export_directory`: never loads the model, so nothing is left in /tmp, and a
    folder that is not a previous export is refused, never emptied. `card`: the run's final model card
    (the `promote` step's `model_card_readme`: test results and decision) written as README.md."""
    from zenml.utils import io_utils

    from embedtune import publishing

    with export_directory(export_dir, note={"run": run_name, "artifact": str(model_artifact.uri)}) as folder:
        io_utils.copy_dir(str(model_artifact.uri), str(folder))
        if card:
            publishing.write_card(folder, card)
    return Path(export_dir).expanduser().resolve()


def write_run_reports(report: dict[str, Any], run_name: str, root: Path = OUTPUT_DIR) -> tuple[Path, Path]:
    """The run's report as `<root>/<run name>/evaluation_report.{json,html}`, and `<root>/latest`
    pointed at that folder: concurrent runs each keep their own report. Returns (html, json) paths."""
    folder = run_output_dir(root, run_name)
    json_path = write_json(report, folder / "evaluation_report.json")
    html_path = folder / "evaluation_report.html"
    html_path.write_text(to_html(report), encoding="utf-8")
    point_latest(root, folder)
    return html_path, json_path


def summarise_training_run(run: Any, export_dir: str | None, config: EmbedtuneConfig | None = None) -> None:
    """After a training pipeline: the metric tables, the headline, then `embedtune.reporting.summary.end_summary`
    (decision, significant dimensions, what to try next, where the model is) and the report paths."""
    import click

    from embedtune.reporting.summary import end_summary

    run = _fresh(run)
    if run is None:
        logger.info("the pipeline was scheduled; it will run on the orchestrator")
        return
    click.echo(f"\nPipeline run: {run.name} ({run.status.value})")
    if "evaluate" not in run.steps:
        triplets = _output(run, "mine_negatives", "training_triplets")
        click.echo(f"Training pairs: artifact 'training_triplets' version {triplets.version} ({triplets.uri})")
        click.echo("Next: read a sample (python run.py samples), then python run.py finetune")
        return
    model_artifact = _output(run, "train_embedder", "tuned_model")
    report = _output(run, "evaluate", "evaluation_report").load()
    promotion = _output(run, "promote", "promotion").load()
    report["promotion"] = promotion
    html_path, json_path = write_run_reports(report, run.name)
    click.echo(format_table(report))
    click.echo("\n" + headline(report, promotion))  # synthetic and gold NDCG@10, and which queries decided
    card = _output(run, "promote", "model_card_readme").load() if export_dir else None
    exported = export_model(model_artifact, export_dir, run.name, card) if export_dir else None
    for line in end_summary(report, promotion, str(model_artifact.uri), exported, config):
        click.echo(line)
    click.echo(f"Report: {html_path.resolve()} and {json_path.resolve()} (newest run: {OUTPUT_DIR / 'latest'})")
    click.echo("Dashboard: run `make dashboard` (zenml login --local), then open the run above.")


def log_run_estimate(config: EmbedtuneConfig, trains: bool) -> None:
    """Log once, before the pipeline starts, how long the run should take (`embedtune.reporting.summary`): the
    corpus's chunk count, and this machine's generation speed from an earlier run with the same generator,
    else the measured default. Best effort: a failure here is logged at debug level and the run goes on."""
    import time

    from embedtune.reporting import summary
    from embedtune.util.remote import is_remote

    if is_remote(config.ingest.corpus):  # a bucket is read inside the step only, never on the submitting machine
        logger.info("run estimate: skipped for the remote corpus %s (read inside the pipeline)", config.ingest.corpus)
        return
    started = time.perf_counter()
    try:
        from embedtune.data.ingest import load_documents
        from embedtune.models.loading import load_tokenizer

        documents = load_documents(config.ingest).documents
        sample, scale = summary.sample_chunks(documents, load_tokenizer(config.model.base_model), config.chunking)
        estimate = summary.estimate_run(
            round(len(sample) * scale), config, summary.measured_speed(_generation_records(), config.generation),
            _trains_on_gpu(config), trains, _answered_share(config, sample),
        )
    except Exception as error:  # noqa: BLE001 - an estimate must never stop a run; the run reports real errors
        logger.debug("no run-time estimate: %s: %s", type(error).__name__, error)
        return
    logger.info("%s", estimate.describe())
    logger.debug("estimate took %.1f s", time.perf_counter() - started)


def _answered_share(config: EmbedtuneConfig, chunks: list[dict[str, Any]]) -> float:
    """The share of `chunks`' prompts the configured generator's answer store already answers (0 on failure).
    Without a store nothing is built, so a first run does not assemble the GGUF here."""
    from embedtune.generation import make_generator
    from embedtune.generation.journal import ANSWERS_FILE, cache_dir_for

    generation = config.generation
    store = cache_dir_for(generation.cache_dir) / ANSWERS_FILE
    if not generation.reuse_answers or not store.is_file():
        return 0.0
    try:
        return make_generator(config.generation).stored_share(chunks, config.generation.queries_per_chunk)
    except Exception as error:  # noqa: BLE001 - best effort, like the whole estimate
        logger.debug("answer store not read for the estimate: %s: %s", type(error).__name__, error)
        return 0.0


def _generation_records(limit: int = 20) -> list[dict[str, Any]]:
    """The metadata of the newest `synthetic_pairs` versions (what `generate_queries` logged), newest first."""
    from zenml.client import Client

    versions = Client().list_artifact_versions(name="synthetic_pairs", sort_by="desc:created", size=limit)
    return [dict(version.run_metadata or {}) for version in versions.items]


def _trains_on_gpu(config: EmbedtuneConfig) -> bool:
    if config.model.device.startswith("cuda"):
        return True
    if config.model.device != "auto":
        return False
    import torch

    return bool(torch.cuda.is_available())


def summarise_benchmark_run(run: Any, output: str | None) -> None:
    run = _fresh(run)
    report = _output(run, "evaluate_benchmark", "benchmark_report").load()
    print(format_table(report))
    for name, usage in (report.get("api_usage") or {}).items():
        estimated = " (estimated from characters)" if usage.get("tokens_estimated") else ""
        print(f"{name}: {usage['tokens']:,} tokens{estimated}, {usage['requests']} requests, "
              f"{usage['retries']} retries, ${usage['cost_usd']:.4f}")
    if output:
        print(f"Metrics written to {write_json(report, output).resolve()}")


def zenml_model_name(config_path: str) -> str | None:
    """The ZenML Model a run config's runs are versions of (its top-level `model.name`), None without one."""
    _, options = load_run_config(config_path)
    model = options.get("model")
    return str(model["name"]) if isinstance(model, dict) and model.get("name") else None


def latest_pairs(model_name: str | None) -> Any:
    """The newest `synthetic_pairs` artifact version made in a run of the ZenML Model `model_name` (any run when
    None). No pairs at all is ZenML's own KeyError (`commands.errors` names the command to run); pairs only of
    other models is an EmbedtuneError naming them."""
    from zenml.client import Client

    client = Client()
    if model_name is None:
        return client.get_artifact_version("synthetic_pairs")
    found = client.list_artifact_versions(name="synthetic_pairs", model=model_name, sort_by="desc:created", size=1)
    if found.items:
        return found.items[0]
    client.get_artifact_version("synthetic_pairs")  # none at all: the KeyError the CLI explains
    raise EmbedtuneError(
        f"no generated pairs of the ZenML model '{model_name}' (model.name in the run config) yet; generated pairs "
        "exist for other models: pass their run config with --config, or run `python run.py generate --config ...`"
    )


def _step_output(run: Any, step: str, name: str) -> Any | None:
    try:
        return _output(run, step, name)
    except (KeyError, IndexError):
        return None


def write_samples(count: int, seed: int, output: str | None, command: str, model_name: str | None = None) -> Path:
    """Sample the latest `synthetic_pairs` of `model_name` (`latest_pairs`) into a markdown file, marking the pairs
    `filter_pairs` kept in the same run and naming each passage's source from that run's chunks; `output`
    defaults to `outputs/<that run>/samples.md`."""
    from zenml.client import Client

    from embedtune.reporting.samples import pairs_markdown
    from embedtune.util.frames import to_records

    client = Client()
    pairs_artifact = latest_pairs(model_name)
    run = client.get_pipeline_run(pairs_artifact.producer_pipeline_run_id)
    filtered = _step_output(run, "filter_pairs", "filtered_pairs") or client.get_artifact_version("filtered_pairs")
    documents = _step_output(run, "load_documents", "documents") or client.get_artifact_version("documents")
    chunks = _step_output(run, "chunk_documents", "chunks")
    kept = {row["id"] for row in to_records(filtered.load())}
    pairs = to_records(pairs_artifact.load())
    source = str(documents.run_metadata.get("corpus", "the latest corpus"))
    path = Path(output) if output else run_output_dir(OUTPUT_DIR, run.name) / "samples.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = pairs_markdown(pairs, kept, count, seed, command, source, to_records(chunks.load()) if chunks else None)
    path.write_text(text, encoding="utf-8")
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
