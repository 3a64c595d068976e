"""A scheduled run of a bucket corpus reads it afresh every time: nothing is read or fingerprinted when the
schedule is compiled (against the Kubernetes recipe on a registered Kubernetes stack, no cluster contacted)."""

from __future__ import annotations

import pytest

from commands import support as cli_support
from embedtune.scheduling import build_schedule
from embedtune.util import remote
from tests.conftest import PROJECT_ROOT
from tests.integration.test_scaling import kubernetes_stack  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration
CORPUS = "s3://team-docs/guide"


def test_a_weekly_schedule_of_a_bucket_corpus_reads_it_in_every_run_and_never_here(kubernetes_stack, monkeypatch):  # noqa: F811
    import pipelines
    from embedtune.data.ingest import corpus_fingerprint

    def no_reading(*args, **kwargs):
        raise AssertionError("the bucket was read on the submitting machine")

    monkeypatch.setattr(remote, "filesystem", no_reading)
    config, options = cli_support.prepare(str(PROJECT_ROOT / "configs/stacks/kubernetes.yaml"), CORPUS, True)
    assert corpus_fingerprint(config.ingest) == CORPUS  # the URI itself: no listing, no stat
    with cli_support.options_file(options) as path:
        pipeline = pipelines.end_to_end.with_options(config_path=path, schedule=build_schedule("0 3 * * 1", "weekly"))
        pipeline.prepare(config=config, corpus_fingerprint=corpus_fingerprint(config.ingest))
        snapshot, schedule, _ = pipeline._compile(**pipeline._run_args)
    steps = snapshot.step_configurations
    assert steps["load_documents"].config.enable_cache is False  # re-read by every scheduled run
    assert steps["load_documents"].config.parameters["config"]["corpus"] == CORPUS
    assert schedule.cron_expression == "0 3 * * 1"
    docker = snapshot.pipeline_configuration.settings["docker"].model_dump()
    assert "s3" in " ".join(docker["pyproject_export_command"])  # s3fs in the image for the s3:// corpus
