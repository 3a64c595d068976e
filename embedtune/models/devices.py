"""Where models run: device auto-detection, weight dtype, mixed-precision flags, TF32, memory.

The same config runs on a laptop CPU, an Apple GPU (MPS), one CUDA GPU or several: `model.device: auto`
picks CUDA, then MPS, then CPU; `training.precision: auto` picks bf16 on Ampere or newer, fp16 on older
CUDA GPUs and fp32 elsewhere (mixed precision on CPU/MPS is slower or unsupported in the Trainer);
`model.dtype: auto` loads weights in fp32 except 1B+ models on a CUDA GPU (bf16, else fp16).
"""

from __future__ import annotations

import gc
import platform
from typing import Any

from embedtune import EmbedtuneError, logger

DEVICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def select_device(preference: str | None = "auto") -> str:
    """'cuda', 'mps' or 'cpu'. An explicit choice that this machine lacks is an error, not a silent fallback."""
    import torch

    preference = (preference or "auto").lower()
    if preference not in DEVICES and not preference.startswith("cuda:"):
        raise EmbedtuneError(f"model.device must be one of {', '.join(DEVICES)} (or cuda:N), not '{preference}'")
    if preference == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available() else "cpu"
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise EmbedtuneError(
            "model.device is 'cuda' but PyTorch sees no CUDA GPU here (CPU-only torch build or no driver); "
            "set model.device: auto, or install a CUDA build of torch (see README, Scaling out)"
        )
    if preference == "mps" and not _mps_available():
        raise EmbedtuneError("model.device is 'mps' but this machine has no Apple GPU; set model.device: auto")
    return preference


def supports_bf16(device: str) -> bool:
    import torch

    return device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def cpu_supports_bf16() -> bool:
    """Native bf16 matmuls on this CPU (AVX512-BF16 or AMX tiles); emulated bf16 would be slower than fp32."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, probe, lambda: False)()) for probe in probes)


def is_ampere_or_newer(device: str) -> bool:
    import torch

    if not (device.startswith("cuda") and torch.cuda.is_available()):
        return False
    major, _ = torch.cuda.get_device_capability()
    return major >= 8


def precision_flags(precision: str, device: str, tf32: bool = True) -> dict[str, bool]:
    """Trainer flags for `training.precision` on `device`: fp16/bf16 autocast on CUDA; on a CPU, bf16 autocast
    when asked for explicitly and the CPU has native bf16 (AVX512-BF16 or AMX: 1.65x the fp32 step speed of
    MiniLM on 2 EPYC cores, benchmarks/README.md); `auto` stays fp32 on a CPU."""
    if device == "cpu" and precision == "bf16":
        if cpu_supports_bf16():
            return {"fp16": False, "bf16": True, "tf32": False}
        logger.warning("training.precision=bf16: this CPU has no native bf16 (AVX512-BF16/AMX); training in fp32")
        return {"fp16": False, "bf16": False, "tf32": False}
    if not device.startswith("cuda"):
        if precision in ("fp16", "bf16"):
            logger.warning("training.precision=%s needs a CUDA GPU; training in fp32 on %s", precision, device)
        return {"fp16": False, "bf16": False, "tf32": False}
    flags = {"fp16": False, "bf16": False, "tf32": bool(tf32 and is_ampere_or_newer(device))}
    if precision == "bf16" and not supports_bf16(device):
        raise EmbedtuneError("training.precision is bf16 but this GPU has no bf16 support; use fp16 or auto")
    if precision == "bf16" or (precision == "auto" and supports_bf16(device)):
        flags["bf16"] = True
    elif precision in ("auto", "fp16"):
        flags["fp16"] = True
    return flags


DTYPES = ("auto", "float32", "bfloat16", "float16")
LARGE_MODEL_PARAMETERS = 1_000_000_000  # from here on, `model.dtype: auto` loads half-precision weights on a GPU


def resolve_dtype(setting: str, device: str, parameters: int | None) -> str:
    """The dtype weights load in, for `model.dtype` on `device` ('float32', 'bfloat16' or 'float16').

    auto: float32 for models under `LARGE_MODEL_PARAMETERS` (or of unknown size) and on CPU/MPS, where
    fp32 master weights plus the Trainer's mixed precision train best and half-precision matmuls are slow or
    missing; for a 1B+ model on a CUDA GPU, bfloat16 where the GPU has it, else float16 (half the memory;
    such models train with LoRA, see `embedtune.training.trainer`). An explicit dtype is used as given,
    except bfloat16 on a CUDA GPU without bf16, which is an error.
    """
    if setting not in DTYPES:
        raise EmbedtuneError(f"model.dtype must be one of {', '.join(DTYPES)}, not '{setting}'")
    if setting == "bfloat16" and device.startswith("cuda") and not supports_bf16(device):
        raise EmbedtuneError("model.dtype is bfloat16 but this GPU has no bf16 support; use float16 or auto")
    if setting != "auto":
        return setting
    if not device.startswith("cuda") or not parameters or parameters < LARGE_MODEL_PARAMETERS:
        return "float32"
    return "bfloat16" if supports_bf16(device) else "float16"


def bytes_per_parameter(dtype: str) -> int:
    return 4 if dtype == "float32" else 2


def available_memory_bytes(device: str) -> int:
    """Memory a new allocation can use on `device`: free GPU memory plus what this process already holds
    there (its own model counts in the estimates), or, on CPU and MPS (unified memory), available RAM."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index
        index = torch.cuda.current_device() if index is None else index
        free, _total = torch.cuda.mem_get_info(index)
        return int(free + torch.cuda.memory_reserved(index))
    import psutil

    return int(psutil.virtual_memory().available)


def enable_tf32(enabled: bool, device: str) -> None:
    """TF32 matmuls: ~2x faster fp32 on Ampere+ with no visible effect on embedding quality."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled


def release_memory(device: str | None = None) -> None:
    """Free cached accelerator memory, e.g. between evaluating the base and the tuned model."""
    import torch

    gc.collect()
    if torch.cuda.is_available() and (device is None or device.startswith("cuda")):
        torch.cuda.empty_cache()
    elif _mps_available() and (device is None or device == "mps"):
        torch.mps.empty_cache()


def reset_peak_memory(device: str) -> None:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_memory_gb() -> float:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 3) if torch.cuda.is_available() else 0.0


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def hardware_summary(device: str | None = None) -> dict[str, Any]:
    """The one description of the machine, for run metadata, model versions and benchmark results:
    device, CPU count, torch threads, platform, library versions, GPU name/count/memory. No host names,
    users or paths."""
    import os

    import torch

    device = device or select_device("auto")
    summary: dict[str, Any] = {
        "device": device,
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count() or 0,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda_available": bool(torch.cuda.is_available()),
        "gpu_count": gpu_count(),
    }
    if summary["gpu_count"]:
        index = torch.cuda.current_device() if device.startswith("cuda") else 0
        properties = torch.cuda.get_device_properties(index)
        summary.update(gpu=properties.name, gpu_memory_gb=round(properties.total_memory / 2**30, 1),
                       cuda=torch.version.cuda)
    try:
        import sentence_transformers
        import transformers

        summary["sentence_transformers"] = sentence_transformers.__version__
        summary["transformers"] = transformers.__version__
    except ImportError:  # pragma: no cover - both are dependencies
        pass
    return summary
