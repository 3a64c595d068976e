"""scripts/install_llama.py: one compile per (spec, flags, Python, CPU); later venvs install the cached wheel."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install_llama.py"


@pytest.fixture
def installer(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("install_llama", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("EMBEDTUNE_WHEEL_CACHE", str(tmp_path / "wheels"))
    calls = []
    broken = {"install": 0}

    def fake_pip(*args, env=None):  # pip itself is not under test: a wheel appears where `pip wheel -w` points
        calls.append((args[0], env.get("CMAKE_ARGS") if env else None))
        if args[0] == "wheel":
            folder = Path(args[args.index("-w") + 1])
            (folder / "llama_cpp_python-0.3.36-cp311-cp311-linux_x86_64.whl").write_bytes(b"wheel")
        if args[0] == "install" and broken["install"]:
            broken["install"] -= 1
            return 1
        return 0

    monkeypatch.setattr(module, "pip", fake_pip)
    module.calls, module.broken = calls, broken
    return module


def test_the_key_changes_with_the_spec_and_the_flags(installer):
    key = installer.wheel_key("llama-cpp-python==0.3.36", "-DGGML_NATIVE=ON")
    assert key == installer.wheel_key("llama-cpp-python==0.3.36", "-DGGML_NATIVE=ON")
    assert key != installer.wheel_key("llama-cpp-python==0.3.36", "-DGGML_NATIVE=OFF")
    assert key != installer.wheel_key("llama-cpp-python==0.3.37", "-DGGML_NATIVE=ON")


def test_the_second_venv_installs_the_cached_wheel_without_compiling(installer):
    installer.main("llama-cpp-python==0.3.36", "-DGGML_NATIVE=ON")
    assert installer.calls == [("wheel", "-DGGML_NATIVE=ON"), ("install", None)]
    installer.calls.clear()
    installer.main("llama-cpp-python==0.3.36", "-DGGML_NATIVE=ON")
    assert installer.calls == [("install", None)]
    installer.calls.clear()
    installer.main("llama-cpp-python==0.3.36", "-DGGML_NATIVE=OFF")  # other flags: compiled again
    assert installer.calls == [("wheel", "-DGGML_NATIVE=OFF"), ("install", None)]


def test_a_cached_wheel_that_does_not_install_is_compiled_again(installer):
    installer.main("llama-cpp-python==0.3.36", "")
    installer.calls.clear()
    installer.broken["install"] = 1
    installer.main("llama-cpp-python==0.3.36", "")
    assert installer.calls == [("install", None), ("wheel", ""), ("install", None)]
    assert len(list(installer.cache_root().glob("llama-*/*.whl"))) == 1
    assert not list(installer.cache_root().glob(".build-*"))  # no scratch folder left behind
