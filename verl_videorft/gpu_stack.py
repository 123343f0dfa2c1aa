"""The GPU stack this machine has, and what the GPU recipe still needs (``videorft doctor`` prints it).

The GPU recipe (``+recipe=videorft``, ``rollout.name=vllm``) runs on what ``verl[vllm,fsdp]==0.9.1``
pins: torch 2.11.0 (a CUDA build), vLLM 0.24.0, transformers 5.9.0, flash-attn 2.8.3 (verl's FSDP
default ``attn_implementation=flash_attention_2`` and ``use_remove_padding``). Without flash-attn it
still runs with ``+actor_rollout_ref.model.override_config.attn_implementation=sdpa
actor_rollout_ref.model.use_remove_padding=false`` (slower: padded batches). Nothing heavy is
imported: versions come from package metadata, devices from torch.

    >>> s = GpuStack(torch="2.11.0+cu130", torch_cuda="13.0", devices=["NVIDIA H200"], vllm="0.24.0",
    ...              flash_attn=None, transformers="5.9.0")
    >>> s.missing()
    ['flash-attn 2.8.3 (or the sdpa overrides, slower)']
    >>> GpuStack(torch="2.13.0+cpu", torch_cuda=None, devices=[], vllm=None, flash_attn=None,
    ...          transformers="5.10.4").missing()[:2]
    ['a CUDA build of torch 2.11.0 (this one is 2.13.0+cpu, CPU only)', 'a visible GPU']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata

# what verl[vllm,fsdp]==0.9.1 pins (its wheel's METADATA)
PINNED = {"torch": "2.11.0", "vllm": "0.24.0", "transformers": "5.9.0", "flash-attn": "2.8.3"}
SDPA_OVERRIDES = ("+actor_rollout_ref.model.override_config.attn_implementation=sdpa "
                  "actor_rollout_ref.model.use_remove_padding=false")


def installed(package: str) -> str | None:
    """The installed version of ``package``, or ``None``."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@dataclass
class GpuStack:
    torch: str | None
    torch_cuda: str | None  # CUDA version torch was built for; None for a CPU build
    devices: list[str] = field(default_factory=list)  # names of the CUDA devices torch sees
    vllm: str | None = None
    flash_attn: str | None = None
    transformers: str | None = None

    def missing(self) -> list[str]:
        """What the GPU recipe still needs here, most basic first ([] when ready)."""
        out = []
        if self.torch_cuda is None:
            out.append(f"a CUDA build of torch {PINNED['torch']} (this one is {self.torch or 'missing'}, CPU only)")
        if not self.devices:
            out.append("a visible GPU")
        if self.vllm is None:
            out.append(f"vllm {PINNED['vllm']} (rollout.name=vllm)")
        elif self.vllm != PINNED["vllm"]:
            out.append(f"vllm {PINNED['vllm']} (found {self.vllm}; the time axis is checked against 0.24.0)")
        if self.flash_attn is None:
            out.append(f"flash-attn {PINNED['flash-attn']} (or the sdpa overrides, slower)")
        return out

    def summary(self) -> str:
        """One line: what is there, then what the GPU recipe needs."""
        torch = f"torch {self.torch or '-'}" + (f" (CUDA {self.torch_cuda})" if self.torch_cuda else " (CPU build)")
        gpus = f"{len(self.devices)} GPU(s)" + (f": {self.devices[0]}" if self.devices else "")
        have = " | ".join([torch, gpus, f"vllm {self.vllm or '-'}", f"flash-attn {self.flash_attn or '-'}",
                           f"transformers {self.transformers or '-'}"])
        need = self.missing()
        return f"GPU stack: {have}; " + ("ready for the GPU recipe" if not need else
                                         "the GPU recipe needs " + ", ".join(need))


def gpu_stack() -> GpuStack:
    """This machine's stack (torch is imported; vLLM and flash-attn are not)."""
    try:
        import torch

        version, cuda = torch.__version__, torch.version.cuda
        devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] \
            if cuda and torch.cuda.is_available() else []
    except Exception:  # noqa: BLE001 - a broken torch is reported as missing
        version, cuda, devices = None, None, []
    return GpuStack(torch=version, torch_cuda=cuda, devices=devices, vllm=installed("vllm"),
                    flash_attn=installed("flash-attn") or installed("flash_attn"),
                    transformers=installed("transformers"))


def stack_line() -> str:
    """What ``videorft doctor`` prints (information, never a failed check: CPU machines are fine)."""
    return gpu_stack().summary()


__all__ = ["GpuStack", "PINNED", "SDPA_OVERRIDES", "gpu_stack", "installed", "stack_line"]
