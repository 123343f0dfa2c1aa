"""The CPU platform, the FSDP engines for device ``cpu``, the gloo backend fix and the trainer metrics,
each checked through verl's own entry points in a fresh interpreter (as a Ray worker would see them)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap

import pytest
import torch

pytest.importorskip("verl")


def _fresh(code: str, **env) -> dict:
    """Run ``code`` in a new interpreter (``import verl`` loads the plugin); it prints one JSON line."""
    import os

    full_env = {**os.environ, "FORCE_QWENVL_VIDEO_READER": "decord", **env}
    full_env.pop("VERL_PLATFORM", None) if "VERL_PLATFORM" not in env else None
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         env=full_env, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_verl_picks_the_cpu_platform_and_engine_on_a_cpu_host():
    got = _fresh("""
        import json, torch, verl
        from verl.utils.device import get_device_name, get_nccl_backend, get_device_id, get_torch_device
        from verl.workers.engine import EngineRegistry
        eng = EngineRegistry.get_engine_cls("language_model", "fsdp2")
        x = torch.ones(2).to(get_device_id())
        print(json.dumps({"device": get_device_name(), "backend": get_nccl_backend(), "engine": eng.__name__,
                          "tensor_device": str(x.device), "free": get_torch_device().mem_get_info()[0] > 0}))
    """)
    if got["device"] == "cuda":
        pytest.skip("a CUDA machine: verl's own platform is used")
    assert got == {"device": "cpu", "backend": "gloo", "engine": "CPUFSDPEngineWithLMHead",
                   "tensor_device": "cpu", "free": True}


def test_process_group_initialises_over_gloo_through_verl():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    got = _fresh("""
        import json, torch, verl
        from verl.utils.distributed import initialize_global_process_group_ray
        initialize_global_process_group_ray()
        t = torch.ones(3)
        torch.distributed.all_reduce(t)
        print(json.dumps({"backend": str(torch.distributed.get_backend()), "sum": t.tolist()}))
        torch.distributed.destroy_process_group()
    """, VERL_PLATFORM="cpu", RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    assert "gloo" in got["backend"] and got["sum"] == [1.0, 1.0, 1.0]


def test_dedupe_backend_leaves_gpu_strings_alone():
    from verl_videorft.cpu.platform import dedupe_backend

    assert dedupe_backend("cpu:gloo,cpu:gloo") == "cpu:gloo"
    assert dedupe_backend("cpu:gloo,cuda:nccl") == "cpu:gloo,cuda:nccl"
    assert dedupe_backend(None) is None


def test_reward_component_metrics():
    from verl_videorft.trainer import reward_component_metrics

    m = reward_component_metrics([
        {"reward_extra_info": {"acc": 1.0, "format": 0.0, "note": "x"}, "videorft_error": None},
        {"reward_extra_info": {"acc": 0.0, "format": 1.0}, "videorft_error": "decode_error: x"},
        None,
    ])
    assert m["reward/acc/mean"] == 0.5 and m["reward/format/max"] == 1.0 and m["reward/acc/min"] == 0.0
    assert m["videorft/bad_samples"] == 1.0 and not any("note" in k for k in m)


# ---- which platform verl picks: the detectors patched to simulate each kind of host -------------------
@pytest.fixture
def detect(monkeypatch, tmp_path):
    """verl's own platform detection with the host faked: ``detect(gpu=, driver=, env=)`` → name."""
    import shutil

    import verl  # noqa: F401 - loads the plugin, which registers the cpu platform
    from verl.plugin.platform import platform_manager

    from verl_videorft.cpu import platform as cpu_platform

    assert "cpu" in platform_manager.PlatformRegistry.registered_names()
    monkeypatch.setattr(shutil, "which", lambda cmd, *a, **k: None)  # no nvidia-smi / rocm-smi on PATH
    driver = tmp_path / "nvidia-version"

    def run(*, gpu: bool, driver_loaded: bool = False, env: str | None = None) -> str:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: int(gpu))
        if driver_loaded:
            driver.write_text("NVRM version: 550")
        monkeypatch.setattr(cpu_platform, "NVIDIA_DRIVER_FILES", (str(driver) if driver_loaded else "/no/such/file",))
        if env is None:
            monkeypatch.delenv("VERL_PLATFORM", raising=False)
        else:
            monkeypatch.setenv("VERL_PLATFORM", env)
        return platform_manager._detect_platform_name()

    return run


@pytest.mark.parametrize(("host", "expected"), [
    (dict(gpu=True), "nvidia"),                                   # GPU host, no nvidia-smi (containers)
    (dict(gpu=False, driver_loaded=True), "nvidia"),              # CPU-only Ray actor on a GPU node
    (dict(gpu=True, env="cpu"), "cpu"),                           # asked for: VERL_PLATFORM=cpu
    (dict(gpu=False), "cpu"),                                     # a CPU-only host
])
def test_cpu_platform_only_when_asked_or_no_gpu(detect, host, expected):
    assert detect(**host) == expected
