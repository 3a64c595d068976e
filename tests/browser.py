"""Headless Chromium (Debian's chromium + chromedriver) driven by selenium, for page checks.

Screenshots go to tests/artifacts/ (or $EMBEDTUNE_TEST_ARTIFACTS) so a person can look at them after a run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ARTIFACTS = Path(os.environ.get("EMBEDTUNE_TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))


def chromium_paths() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (browser and driver):
        raise RuntimeError("headless Chromium not found: run `make browser` (Debian: apt-get install chromium chromium-driver)")
    return browser, driver


@contextmanager
def headless_chromium(width: int = 1440, height: int = 1000) -> Iterator[object]:
    """A selenium WebDriver on a headless Chromium; quits the browser on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={width},{height}", "--lang=en-US"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def save_screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def wait_for_text(driver, text: str, timeout: float = 60.0) -> None:
    """Wait until `text` is visible somewhere in the page body."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: text in d.find_element(By.TAG_NAME, "body").text)
