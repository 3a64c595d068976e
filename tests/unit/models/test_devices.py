"""Devices: auto picks CUDA, MPS, CPU; precision per device; the machine summary."""

from __future__ import annotations

import pytest
import torch

from embedtune import EmbedtuneError
from embedtune.config import parse_parameters
from embedtune.models import devices


@pytest.fixture
def fake_gpu(monkeypatch):
    """Pretend a CUDA GPU of a given compute capability is present (flags logic only; nothing runs on it)."""

    def install(capability: tuple[int, int], bf16: bool) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: capability)

    return install


def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    assert devices.select_device("auto") == "cpu"
    monkeypatch.setattr(devices, "_mps_available", lambda: True)
    assert devices.select_device("auto") == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert devices.select_device(None) == "cuda"


def test_asking_for_a_missing_gpu_is_an_error_not_a_silent_fallback(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    with pytest.raises(EmbedtuneError, match="no CUDA GPU"):
        devices.select_device("cuda")
    with pytest.raises(EmbedtuneError, match="no Apple GPU"):
        devices.select_device("mps")
    assert devices.select_device("cpu") == "cpu"


def test_cpu_trains_in_fp32_and_says_so_when_mixed_precision_was_asked(caplog, monkeypatch):
    assert devices.precision_flags("auto", "cpu") == {"fp16": False, "bf16": False, "tf32": False}
    with caplog.at_level("WARNING", logger="embedtune"):
        assert devices.precision_flags("fp16", "cpu")["fp16"] is False
    assert "needs a CUDA GPU" in caplog.text
    monkeypatch.setattr(devices, "cpu_supports_bf16", lambda: False)
    with caplog.at_level("WARNING", logger="embedtune"):
        assert devices.precision_flags("bf16", "cpu")["bf16"] is False
    assert "no native bf16" in caplog.text


def test_cpu_with_native_bf16_autocasts_when_asked(monkeypatch):
    monkeypatch.setattr(devices, "cpu_supports_bf16", lambda: True)
    assert devices.precision_flags("bf16", "cpu") == {"fp16": False, "bf16": True, "tf32": False}
    assert devices.precision_flags("auto", "cpu")["bf16"] is False  # measured faster, quality not yet: opt in


def test_ampere_gets_bf16_and_tf32(fake_gpu):
    fake_gpu((8, 0), bf16=True)
    assert devices.precision_flags("auto", "cuda") == {"fp16": False, "bf16": True, "tf32": True}
    assert devices.precision_flags("auto", "cuda", tf32=False)["tf32"] is False
    assert devices.precision_flags("fp16", "cuda") == {"fp16": True, "bf16": False, "tf32": True}
    assert devices.precision_flags("fp32", "cuda") == {"fp16": False, "bf16": False, "tf32": True}


def test_older_gpu_gets_fp16_and_refuses_bf16(fake_gpu):
    fake_gpu((7, 5), bf16=False)
    assert devices.precision_flags("auto", "cuda") == {"fp16": True, "bf16": False, "tf32": False}
    with pytest.raises(EmbedtuneError, match="no bf16 support"):
        devices.precision_flags("bf16", "cuda")


def test_device_and_gpu_settings_are_validated_with_the_key_named():
    with pytest.raises(Exception, match="device"):
        parse_parameters({"model": {"device": "tpu"}})
    with pytest.raises(Exception, match="gpus"):
        parse_parameters({"training": {"gpus": 0}})
    config = parse_parameters({"model": {"device": "cuda:1"}, "training": {"gpus": 2, "tf32": False}})
    assert (config.model.device, config.training.gpus, config.training.tf32) == ("cuda:1", 2, False)


def test_hardware_summary_names_the_device_and_threads():
    summary = devices.hardware_summary("cpu")
    assert summary["device"] == "cpu" and summary["cpu_count"] >= 1 and summary["torch"] == torch.__version__


def test_hardware_summary_names_the_machine_without_identifying_it():
    info = devices.hardware_summary()
    assert info["cpu_count"] >= 1 and isinstance(info["cuda_available"], bool) and info["torch"]
    assert not any(key in info for key in ("hostname", "user", "node"))
