"""Install llama-cpp-python compiled for this machine, from embedtune's wheel cache when it holds one.

Usage (what `make install` runs, with the venv's own Python):
    .venv/bin/python scripts/install_llama.py "llama-cpp-python==0.3.36" "-DGGML_NATIVE=ON"

llama-cpp-python is a source package: every new venv compiles llama.cpp (5 to 10 minutes on 2 cores).
pip's own wheel cache cannot be used for it, since its key ignores CMAKE_ARGS and would hand back a wheel
built with other flags. This script keeps the wheel it builds under
`$EMBEDTUNE_WHEEL_CACHE` (default `~/.cache/embedtune/wheels`), in a folder keyed by the package spec, the
CMake flags, the Python version and the CPU's feature flags (a native build uses the instructions this CPU
has), so the next venv on the same machine installs it in seconds. A cached wheel that fails to install is
deleted and built again.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def cache_root() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "embedtune" / "wheels"
    return Path(os.environ.get("EMBEDTUNE_WHEEL_CACHE") or default)


def cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(("flags", "Features")):  # x86, ARM
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def wheel_key(spec: str, cmake_args: str) -> str:
    parts = [spec, cmake_args, sys.version, platform.machine(), cpu_flags()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def pip(*args: str, env: dict[str, str] | None = None) -> int:
    return subprocess.call([sys.executable, "-m", "pip", *args], env=env)


def build(spec: str, cmake_args: str, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".build-") as scratch:
        env = {**os.environ, "CMAKE_ARGS": cmake_args}
        print(f"Compiling {spec} for this machine ({cmake_args or 'default flags'}); cached in {folder}", flush=True)
        if pip("wheel", "-q", "--no-deps", "--no-cache-dir", "-w", scratch, spec, env=env) != 0:
            raise SystemExit(f"Building {spec} failed (CMAKE_ARGS={cmake_args!r}); see pip's output above.")
        staged = Path(scratch) / "ready"
        staged.mkdir()
        for wheel in Path(scratch).glob("*.whl"):
            wheel.rename(staged / wheel.name)
        shutil.rmtree(folder, ignore_errors=True)
        staged.rename(folder)  # whole or not at all: a build killed half-way leaves no wheel behind


def main(spec: str, cmake_args: str) -> None:
    folder = cache_root() / f"llama-{wheel_key(spec, cmake_args)}"
    if not list(folder.glob("*.whl")):
        build(spec, cmake_args, folder)
    else:
        print(f"{spec}: the wheel compiled earlier for this machine ({folder})", flush=True)
    wheels = [str(path) for path in folder.glob("*.whl")]
    if pip("install", "-q", *wheels) != 0:
        print(f"The cached wheel in {folder} did not install; compiling again.", flush=True)
        build(spec, cmake_args, folder)
        if pip("install", "-q", *[str(path) for path in folder.glob("*.whl")]) != 0:
            raise SystemExit(f"Installing {spec} failed; see pip's output above.")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python scripts/install_llama.py SPEC CMAKE_ARGS")
    main(sys.argv[1], sys.argv[2])
