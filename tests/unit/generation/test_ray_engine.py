"""`generation.engine: ray` without a cluster: the runner's dispatch (the config picks the engine, whatever the
backend's default mode or the env var), resume from the journal, the one-line error when ray is missing, and
what is handed to distilabel (address, replicas and resources). The real cluster: tests/services/test_ray.py."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from embedtune import EmbedtuneError
from embedtune.config import GenerationConfig, RayOptions
from embedtune.generation import distilabel_pipeline, ray_engine, runner
from embedtune.generation.journal import journal_line
from embedtune.generation.runner import DistilabelQueryGenerator
from tests.unit.generation.fakes import CHUNKS, FakeLLM


@pytest.fixture
def pipeline_calls(monkeypatch):
    """Replaces the distilabel pipeline with the fake LLM called in-process; records each call's `ray`."""
    calls: list[dict] = []

    def fake_run_pipeline(llm, rows, batch_size, cache_dir, run_key, journal, ray=None):
        calls.append({"ray": ray, "rows": [row["row_id"] for row in rows]})
        outputs = FakeLLM().generate(inputs=[row["messages"] for row in rows])
        results = {}
        with journal.open("a", encoding="utf-8") as out:
            for row, output in zip(rows, outputs):
                raw, stats = output["generations"][0], output["statistics"]
                tokens_in, tokens_out = stats["input_tokens"][0], stats["output_tokens"][0]
                results[row["row_id"]] = (raw, tokens_in, tokens_out)
                out.write(journal_line(row["row_id"], raw, tokens_in, tokens_out))
        return results

    monkeypatch.setattr(runner, "run_pipeline", fake_run_pipeline)
    return calls


def generator(tmp_path: Path, engine: str, default_mode: str = "direct", **ray: object) -> DistilabelQueryGenerator:
    config = GenerationConfig(cache_dir=str(tmp_path / "cache"), engine=engine, ray=ray)
    return DistilabelQueryGenerator(config, FakeLLM(), {"max_new_tokens": 32}, "fake:llm", batch_size=2,
                                    default_mode=default_mode)


def test_engine_ray_sends_the_rows_through_the_ray_pipeline_whatever_the_mode_says(tmp_path, pipeline_calls,
                                                                                  monkeypatch):
    monkeypatch.setenv(runner.MODE_ENV, "direct")  # the engine comes from the config, not the env var
    first = generator(tmp_path, "ray", default_mode="direct", replicas=3, num_gpus=0.5)  # e.g. llama.cpp
    rows = first.generate(CHUNKS, 2)
    assert len(pipeline_calls) == 1 and pipeline_calls[0]["ray"] == RayOptions(replicas=3, num_gpus=0.5)
    assert len(pipeline_calls[0]["rows"]) == 6 and first.usage()["mode"] == "ray"
    assert [row.query for row in rows][:2] == ["What does An mean?", "an keywords"]
    assert first.usage()["completion_tokens"] == 6 * 9 and first.usage()["resumed_answers"] == 0

    again = generator(tmp_path, "ray")  # same rows, same journal: nothing left to ask
    assert again.generate(CHUNKS, 2) == rows and len(pipeline_calls) == 1
    assert again.usage()["resumed_answers"] == 6 and again.usage()["completion_tokens"] == 6 * 9


def test_engine_local_keeps_the_modes_and_no_ray(tmp_path, pipeline_calls, monkeypatch):
    monkeypatch.setenv(runner.MODE_ENV, "pipeline")
    generator(tmp_path, "local").generate(CHUNKS, 1)
    assert [call["ray"] for call in pipeline_calls] == [None]
    monkeypatch.setenv(runner.MODE_ENV, "direct")
    direct = generator(tmp_path / "direct", "local")
    direct.generate(CHUNKS, 1)
    assert len(pipeline_calls) == 1 and direct.usage()["mode"] == "direct"


def test_engine_ray_off_the_main_thread_is_refused(tmp_path, pipeline_calls):
    errors: list[BaseException] = []

    def run() -> None:
        try:
            generator(tmp_path, "ray").generate(CHUNKS, 1)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert isinstance(errors[0], EmbedtuneError) and "main thread" in str(errors[0]) and not pipeline_calls


def test_missing_ray_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets when it is not installed
    with pytest.raises(EmbedtuneError) as caught:
        generator(tmp_path, "ray").generate(CHUNKS, 1)  # the real run_pipeline: refused before any pipeline
    message = str(caught.value)
    assert "\n" not in message and "pip install 'embedtune[ray]'" in message and "generation.engine: ray" in message
    assert not list((tmp_path / "cache").rglob("*.jsonl"))  # nothing journalled, no pipeline cache


def test_address_is_the_config_then_ray_address_then_a_local_cluster(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert ray_engine.ray_address(RayOptions()) == "local"
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    assert ray_engine.ray_address(RayOptions()) == "10.0.0.5:6379"
    assert ray_engine.ray_address(RayOptions(address="ray://head:10001")) == "ray://head:10001"


def test_replica_resources_and_llamacpp_threads():
    resources = ray_engine.replica_resources(RayOptions(replicas=4, num_cpus=2.0, num_gpus=0.5))
    assert (resources.replicas, resources.cpus, resources.gpus) == (4, 2, 0.5)
    assert isinstance(resources.cpus, int)  # whole numbers as distilabel declares them; fractions kept for Ray
    assert ray_engine.replica_resources(RayOptions()).cpus is None  # Ray's default: placed anywhere
    llamacpp = SimpleNamespace(extra_kwargs={"n_threads": 64, "n_threads_batch": 64})
    ray_engine.fit_llm_to_replica(llamacpp, RayOptions(num_cpus=4))
    assert llamacpp.extra_kwargs == {"n_threads": 4, "n_threads_batch": 4}
    openai = SimpleNamespace(extra_kwargs={})
    ray_engine.fit_llm_to_replica(openai, RayOptions(num_cpus=4))
    assert openai.extra_kwargs == {}


def test_the_pipeline_becomes_a_ray_pipeline_with_the_address_and_the_replicas(tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="the ray extra (in dev)")
    from distilabel.pipeline import Pipeline, RayPipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import ChatGeneration

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    options = RayOptions(replicas=2, num_cpus=1)
    with Pipeline(name="embedtune-ray-unit", cache_dir=tmp_path) as pipeline:
        load = LoadDataFromDicts(name="load_chunks", data=[{"messages": []}])
        task = ChatGeneration(name=distilabel_pipeline.STEP_NAME, llm=FakeLLM(),
                              resources=ray_engine.replica_resources(options))
        load >> task
    ray_pipeline, shutdown_after = ray_engine.to_ray(pipeline, options)  # builds it; starts nothing
    assert isinstance(ray_pipeline, RayPipeline) and shutdown_after
    assert ray_pipeline._ray_init_kwargs == {"address": "local"} and ray_pipeline._ray_head_node_url is None
    step = ray_pipeline.dag.get_step(distilabel_pipeline.STEP_NAME)["step"]
    assert (step.resources.replicas, step.resources.cpus) == (2, 1)
