"""The ZenML local server + dashboard, looked at in headless Chromium as a person would.

`python run.py dashboard` (zenml login --local) in a fresh ZENML_CONFIG_PATH, the tiny end-to-end pipeline run against it, then the
run page (step graph, the evaluation report's HTML visualization with its chart) and the model version.
The open-source dashboard of ZenML 0.98 has no model-version page (its Models page is a ZenML Pro
feature), so the model version is opened through the server's REST API in the same browser session.
Screenshots go to tests/artifacts/ (see tests/browser.py).
"""

from __future__ import annotations

import json
import sys
import time

import pytest

from tests.browser import headless_chromium, save_screenshot, wait_for_text
from tests.conftest import PROJECT_ROOT
from tests.services.zenml_env import free_port, run, run_tiny_pipeline, zenml_env

pytestmark = [pytest.mark.services, pytest.mark.slow]

MODEL_NAME = "embedtune-services-dashboard"
STEPS = ["load_documents", "chunk_documents", "generate_queries", "filter_pairs", "mine_negatives",
         "split_by_document", "report_data", "train_embedder", "evaluate", "promote"]
# The dashboard sends a fresh user through a survey first; the server records it as done this way.
SKIP_ONBOARDING = """
from zenml.client import Client
from zenml.models import UserUpdate
Client().zen_store.put("/current-user", body=UserUpdate(email_opted_in=False, full_name="embedtune CI",
    user_metadata={"finished_onboarding_survey": True, "overview_tour_done": True, "awareness_channels": ["other"]}))
"""


@pytest.fixture(scope="module")
def dashboard_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("dashboard")
    env = zenml_env(home / "zenml")
    port = free_port()
    started = time.monotonic()
    run([sys.executable, str(PROJECT_ROOT / "run.py"), "dashboard", "--port", str(port)], env, home, timeout=300)
    try:
        login_seconds = time.monotonic() - started
        run([sys.executable, "-c", SKIP_ONBOARDING], env, home, timeout=120)
        result = run_tiny_pipeline(env, home / "work", MODEL_NAME)
        yield {"url": f"http://127.0.0.1:{port}", "login_seconds": login_seconds, **result}
    finally:
        run([sys.executable, str(PROJECT_ROOT / "run.py"), "dashboard", "--stop"], env, home, timeout=120)


def _click(driver, element) -> None:
    driver.execute_script("arguments[0].click()", element)


def _text(driver) -> str:
    return driver.execute_script("return document.body.innerText")


def test_run_page_shows_the_step_graph_and_the_evaluation_report_with_its_chart(dashboard_run):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    assert dashboard_run["status"] == "completed"
    with headless_chromium() as driver:
        driver.get(f"{dashboard_run['url']}/projects/default/runs/{dashboard_run['run_id']}")
        wait_for_text(driver, "evaluation_html", timeout=120)
        page = _text(driver)
        save_screenshot(driver, "dashboard-run")
        assert "survey" not in driver.current_url
        for name in [*STEPS, "tuned_model", "evaluation_report", "data_funnel", "pairs_sample"]:
            assert name in page, f"{name} is not in the run's step graph"

        # the evaluation report artifact: open its node, its Visualization tab, then load the HTML preview
        (node,) = driver.find_elements(By.XPATH, "//*[normalize-space(text())='evaluation_html']")
        _click(driver, node)
        WebDriverWait(driver, 60).until(lambda d: len(d.find_elements(
            By.XPATH, "//*[normalize-space(text())='Visualization']")) >= 2)
        _click(driver, driver.find_elements(By.XPATH, "//*[normalize-space(text())='Visualization']")[-1])
        load = WebDriverWait(driver, 60).until(
            lambda d: d.find_elements(By.XPATH, "//button[normalize-space(.)='Load Preview']"))
        _click(driver, load[0])
        frame = WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.TAG_NAME, "iframe"))[0]
        time.sleep(2)  # let the frame paint before the screenshot
        save_screenshot(driver, "dashboard-evaluation-report")
        driver.switch_to.frame(frame)
        WebDriverWait(driver, 30).until(lambda d: "NDCG@10 per Matryoshka dimension" in _text(d))
        report_text = _text(driver)
        bars = driver.find_elements(By.CSS_SELECTOR, "svg rect")
        driver.switch_to.default_content()
    assert "held-out queries" in report_text and "tuned" in report_text and "base" in report_text
    assert len(bars) >= 4 + 2  # base and tuned at 2 dimensions, plus the legend swatches


def test_model_version_holds_the_artifacts_and_metadata(dashboard_run):
    with headless_chromium() as driver:
        base = dashboard_run["url"]
        driver.get(f"{base}/api/v1/model_versions/{dashboard_run['model_version_id']}?hydrate=true")
        wait_for_text(driver, MODEL_NAME, timeout=60)
        version = json.loads(_text(driver))
        save_screenshot(driver, "dashboard-model-version")
        driver.get(f"{base}/api/v1/model_version_artifacts?model_version_id={dashboard_run['model_version_id']}"
                   "&size=100&hydrate=true")
        wait_for_text(driver, "items", timeout=60)
        links = json.loads(_text(driver))["items"]
    metadata = version["metadata"]["run_metadata"]
    assert version["body"]["model"]["name"] == MODEL_NAME
    assert {"generation", "filtering", "data_funnel", "training", "training_arguments", "hardware", "metrics",
            "gains_ci95", "base_ndcg@10", "tuned_ndcg@10", "ndcg@10_gain_ci95", "promoted",
            "promotion_reason"} <= set(metadata)
    assert metadata["generation"]["prompt_version"] and metadata["data_funnel"]["documents"] == 6
    names = {link["body"]["artifact_version"]["body"]["artifact"]["name"] for link in links}
    assert {"synthetic_pairs", "filtered_pairs", "train", "validation", "test", "tuned_model",
            "evaluation_report", "evaluation_html", "data_funnel", "pairs_sample"} <= names
