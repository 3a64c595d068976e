"""The light generation modules stay light (no LLM packages on import); the runner sets OpenMP's policy.

Import cycles across all of embedtune are checked in tests/unit/test_layout.py."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    ["embedtune.generation", "embedtune.generation.base", "embedtune.generation.filters",
     "embedtune.generation.negatives", "embedtune.generation.backends", "embedtune.generation.prompts",
     "embedtune.generation.parsing", "embedtune.generation.journal"],
)
def test_light_modules_do_not_import_llm_packages(module):
    code = (
        f"import sys, {module}\n"
        "heavy = [m for m in ('distilabel', 'llama_cpp', 'openai', 'vllm') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "", f"importing {module} loaded {result.stdout.strip()}"


def test_the_runner_sets_the_openmp_wait_policy_before_llama_cpp_can_load():
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    code = (
        "import os, sys, embedtune.generation.runner\n"
        "print(os.environ.get('OMP_WAIT_POLICY'), 'llama_cpp' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True, env=env)
    assert result.stdout.split() == ["PASSIVE", "False"]
