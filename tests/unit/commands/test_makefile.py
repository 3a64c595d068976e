"""A bare `make` prints the targets and installs nothing (an included mk/*.mk file's first target used to be
the default: a bare `make` installed the Argilla server)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=60, check=False)


def phony_targets() -> set[str]:
    targets = set()
    for path in [PROJECT_ROOT / "Makefile", *sorted((PROJECT_ROOT / "mk").glob("*.mk"))]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith(".PHONY:"):
                targets.update(line.split(":", 1)[1].split())
    return targets


def test_a_bare_make_prints_every_target_and_would_run_nothing_else():
    dry = make("-n")
    assert dry.returncode == 0, dry.stderr
    commands = [line for line in dry.stdout.splitlines() if line.strip()]
    assert commands and all(line.startswith("echo ") for line in commands), commands  # only the help's echo lines
    shown = make()
    assert shown.returncode == 0 and shown.stdout == make("help").stdout
    listed = set(re.findall(r"^\s+make ([a-z-]+)", shown.stdout, flags=re.MULTILINE))
    assert phony_targets() <= listed, f"targets missing from `make help`: {sorted(phony_targets() - listed)}"
