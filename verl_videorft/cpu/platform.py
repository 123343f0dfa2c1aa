"""A CPU platform for verl's ``PlatformRegistry`` (device ``cpu``, collectives over ``gloo``).

verl 0.9.1 ships NVIDIA, Ascend and ROCm platforms only and falls back to ``nvidia`` (device
``cuda``) on a machine without an accelerator. Registering this class under the name ``cpu``
(last, so every real accelerator is probed first) makes verl's auto-detection pick it on a
CPU-only host; ``VERL_PLATFORM=cpu`` (read first by verl's ``platform_manager._detect_platform_name``;
the CPU recipe and the demo set it) forces it anywhere.

It never claims a GPU host: verl's NVIDIA probe answers no when ``nvidia-smi`` is not on the PATH
(common in containers), and verl would then take the first platform that answers yes. This one
answers yes only when torch sees no CUDA/ROCm device and no NVIDIA driver is loaded
(:func:`accelerator_present`); otherwise verl falls back to ``nvidia`` as it would without the plugin.

Example::

    >>> from verl_videorft.cpu.platform import CPUPlatform
    >>> p = CPUPlatform()
    >>> p.device_name, p.communication_backend_name()
    ('cpu', 'gloo')
"""

from __future__ import annotations

import functools
import os
import random
import types
from contextlib import contextmanager
from typing import Any

import torch
from verl.plugin.platform.platform_base import PlatformBase

# Files an NVIDIA kernel driver creates; present in a container given GPUs even without nvidia-smi.
NVIDIA_DRIVER_FILES = ("/proc/driver/nvidia/version", "/dev/nvidiactl")


def accelerator_present() -> bool:
    """Whether this host has a GPU verl should use: torch sees a CUDA (or ROCm) device, or an NVIDIA
    driver is loaded (a CPU-only Ray actor on a GPU node may see no device, but the node has them)."""
    try:
        if torch.cuda.is_available() and torch.cuda.device_count() > 0:
            return True
    except Exception:  # noqa: BLE001 - a broken CUDA setup is not a CPU host either
        return True
    return any(os.path.exists(f) for f in NVIDIA_DRIVER_FILES)


class _CpuDeviceModule(types.ModuleType):
    """What verl calls on ``get_torch_device()``, answered for the CPU.

    ``torch.cpu`` has ``synchronize``/``current_stream``/``Stream``...; the memory and RNG calls
    that ``torch.cuda`` offers are added here (no-ops, or host numbers where a value is needed).
    """

    def __init__(self) -> None:
        super().__init__("verl_videorft_cpu_device")

    def __getattr__(self, name: str) -> Any:  # only called for names not defined below
        return getattr(torch.cpu, name)

    @staticmethod
    def is_available() -> bool:
        return True

    @staticmethod
    def set_device(device: Any) -> None:  # one logical device; Ray's logical GPU id is ignored
        return None

    @staticmethod
    def current_device() -> int:
        return 0

    @staticmethod
    def device_count() -> int:
        return 1

    @staticmethod
    def get_device_name(device: Any = None) -> str:
        return "cpu"

    @staticmethod
    def empty_cache() -> None:
        return None

    @staticmethod
    def ipc_collect() -> None:
        return None

    @staticmethod
    def set_per_process_memory_fraction(fraction: float, device: Any = None) -> None:
        return None

    @staticmethod
    def mem_get_info(device: Any = None) -> tuple[int, int]:
        import psutil

        vm = psutil.virtual_memory()
        return int(vm.available), int(vm.total)

    @staticmethod
    def memory_allocated(device: Any = None) -> int:
        return 0

    memory_reserved = max_memory_allocated = max_memory_reserved = memory_allocated

    @staticmethod
    def get_rng_state(device: Any = None) -> torch.Tensor:
        return torch.get_rng_state()

    @staticmethod
    def set_rng_state(state: torch.Tensor, device: Any = None) -> None:
        torch.set_rng_state(state)

    @staticmethod
    def manual_seed(seed: int) -> None:
        torch.manual_seed(seed)

    manual_seed_all = manual_seed


class CPUPlatform(PlatformBase):
    """verl platform for CPU-only hosts: device ``cpu``, backend ``gloo``, Ray resource ``GPU``.

    The Ray resource stays ``GPU`` on purpose: verl's resource pools ask Ray for accelerators,
    and on CPU they are satisfied with logical GPUs (``+ray_kwargs.ray_init.num_gpus=N``).
    """

    _module = _CpuDeviceModule()

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> types.ModuleType:
        return self._module

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        # Probed after nvidia/huawei/amd (registration order); their probes can miss a GPU (no
        # nvidia-smi on the PATH), so look for one again before claiming the host.
        return os.environ.get("VERL_PLATFORM", "").strip().lower() == "cpu" or not accelerator_present()

    def current_device(self) -> str:  # type: ignore[override]
        # verl passes this straight to `.to(...)`, `device=` and `model.to_empty(device=...)`; an
        # int there means "accelerator #0", which a CPU-only torch cannot open.
        return "cpu"

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: int | None = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)
        random.seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        return "CUDA_VISIBLE_DEVICES"

    @contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        return "GPU"

    def ray_noset_envvars(self) -> list[str]:
        return []

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self) -> Any:
        return None


def dedupe_backend(backend: str | None) -> str | None:
    """Drop repeated ``device:backend`` pairs: verl builds ``cpu:gloo,{device}:{backend}``,
    which on the CPU platform reads ``cpu:gloo,cpu:gloo`` and torch rejects duplicates.

    >>> dedupe_backend("cpu:gloo,cpu:gloo"), dedupe_backend("cpu:gloo,cuda:nccl")
    ('cpu:gloo', 'cpu:gloo,cuda:nccl')
    """
    if not backend or "," not in backend:
        return backend
    return ",".join(dict.fromkeys(p.strip() for p in backend.split(",")))


def install_process_group_fix() -> None:
    """One of the package's three run-time replacements (tabled in ARCHITECTURE.md).

    verl builds the backend string ``cpu:gloo,{device}:{backend}`` in both of its process-group
    initialisers (``initialize_global_process_group`` for torchrun jobs such as the SFT trainer,
    ``initialize_global_process_group_ray`` for Ray workers); on the CPU platform that reads
    ``cpu:gloo,cpu:gloo``, which torch rejects. Wrapping ``torch.distributed.init_process_group``,
    where the string is checked, fixes both paths at once; the wrapper only drops repeated pairs,
    so it is a no-op on GPU strings. Idempotent.
    """
    import torch.distributed as dist

    original = dist.init_process_group
    if getattr(original, "_videorft_dedup", False):
        return

    @functools.wraps(original)
    def init_process_group(*args: Any, **kwargs: Any):
        if isinstance(kwargs.get("backend"), str):
            kwargs["backend"] = dedupe_backend(kwargs["backend"])
        elif args and isinstance(args[0], str):
            args = (dedupe_backend(args[0]), *args[1:])
        return original(*args, **kwargs)

    init_process_group._videorft_dedup = True  # type: ignore[attr-defined]
    dist.init_process_group = init_process_group
