"""Pipeline mode: LLM calls through a distilabel `Pipeline` instead of in this process.

Used by `embedtune.generation.runner` when `EMBEDTUNE_DISTILABEL_MODE=pipeline` (every backend
defaults to direct mode), and with `generation.engine: ray`, where the same pipeline runs as distilabel's
`RayPipeline` (`embedtune.generation.ray_engine`). `run_pipeline` sends the rows through
`LoadDataFromDicts >> ChatGeneration(llm)` with distilabel's cache on, so an interrupted pipeline resumes
from its finished batches; afterwards every answer goes into the run's journal
(`embedtune.generation.journal`) and distilabel's cache of this pipeline is dropped, so a row that failed
is asked again next time instead of being served its cached failure.

`distilabel_run_context()` wraps the run: distilabel's worker processes inherit the signal handlers and
root log handlers of this process, and inside a ZenML step they then never shut down; it gives them
defaults and puts the caller's back afterwards.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedtune.generation.journal import journal_line
from embedtune.generation.ray_engine import fit_llm_to_replica, replica_resources, require_ray, shutdown, to_ray

if TYPE_CHECKING:
    from embedtune.config import RayOptions

STEP_NAME = "generate_queries"


@contextmanager
def distilabel_run_context() -> Iterator[None]:
    """Default signal handlers and a bare root logger while distilabel runs; the caller's afterwards.

    ZenML installs a SIGTERM handler (and root log handlers) that distilabel's worker processes inherit;
    their shutdown then never completes. distilabel also clears the root logger's handlers.
    """
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    in_main = threading.current_thread() is threading.main_thread()
    saved_signals: dict[int, Any] = {}
    if in_main:
        defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
        for signum, handler in defaults.items():
            saved_signals[signum] = signal.getsignal(signum)
            signal.signal(signum, handler)
    root.handlers = []
    try:
        yield
    finally:
        for signum, handler in saved_signals.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        for handler in list(root.handlers):
            if handler not in saved_handlers:
                root.removeHandler(handler)
        root.handlers = saved_handlers
        root.setLevel(saved_level)


def _stats(metadata: Any, step_name: str) -> tuple[int, int]:
    if not isinstance(metadata, dict):
        return 0, 0
    stats = metadata.get(f"statistics_{step_name}") or {}

    def first(value: Any) -> int:
        if isinstance(value, list):
            value = value[0] if value else 0
        try:
            return int(value or 0)
        except (TypeError, ValueError):
            return 0

    return first(stats.get("input_tokens")), first(stats.get("output_tokens"))


def run_pipeline(
    llm: Any,
    rows: list[dict[str, Any]],
    batch_size: int,
    cache_dir: Path,
    run_key: str,
    journal: Path,
    ray: RayOptions | None = None,
) -> dict[str, tuple[Any, int, int]]:
    """The answers of a distilabel Pipeline for `rows`, appended to `journal` as well.

    Args:
        llm: the distilabel LLM, its `generation_kwargs` already set.
        rows: prompt rows (`row_id`, `style`, `messages`) not yet in the journal.
        batch_size: rows per distilabel batch.
        cache_dir: distilabel's cache folder (`generation.cache_dir`).
        run_key: the run's key; with the rows left to do it names the pipeline (and its cache).
        journal: the run's journal, appended to.
        ray: `generation.ray` to run the pipeline on a Ray cluster (`generation.engine: ray`), the
            generation step in `ray.replicas` copies; None: distilabel's local multiprocessing pipeline.

    Returns:
        row_id -> (raw answer or None, prompt tokens, completion tokens); empty when distilabel
        returned nothing.

    Raises:
        EmbedtuneError: `ray` is given but the ray package is not installed.
    """
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import ChatGeneration

    # Named after what is left to do: re-run after a kill, the same rows meet distilabel's cache of
    # their finished batches; once the journal holds the answers that cache is dropped (below), so
    # a row that failed is asked again next time instead of being served its cached failure.
    todo_key = hashlib.sha256("\n".join(row["row_id"] for row in rows).encode()).hexdigest()[:8]
    name = f"embedtune-queries-{run_key}-{todo_key}"
    step_options: dict[str, Any] = {}
    if ray is not None:
        require_ray()
        fit_llm_to_replica(llm, ray)
        step_options["resources"] = replica_resources(ray)
    with Pipeline(name=name, description="embedtune synthetic query generation", cache_dir=cache_dir) as pipeline:
        load = LoadDataFromDicts(name="load_chunks", data=rows, batch_size=batch_size)
        task = ChatGeneration(name=STEP_NAME, llm=llm, input_batch_size=batch_size, **step_options)
        load >> task
    shutdown_after = False
    try:
        if ray is not None:
            pipeline, shutdown_after = to_ray(pipeline, ray)
        with distilabel_run_context():
            distiset = pipeline.run(use_cache=True)
    finally:
        if shutdown_after:
            shutdown()
    results: dict[str, tuple[Any, int, int]] = {}
    if distiset is None:
        return results
    with journal.open("a", encoding="utf-8") as out:
        for config_name in distiset:
            for split in distiset[config_name].values():
                for record in split:
                    prompt_tokens, completion_tokens = _stats(record.get("distilabel_metadata"), STEP_NAME)
                    raw = record.get("generation")
                    results[record["row_id"]] = (raw, prompt_tokens, completion_tokens)
                    if isinstance(raw, str):
                        out.write(journal_line(record["row_id"], raw, prompt_tokens, completion_tokens))
    shutil.rmtree(cache_dir / name, ignore_errors=True)
    return results
