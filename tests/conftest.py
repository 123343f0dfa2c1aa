"""Shared fixtures. No network: tiny models are built from configs, videos are generated
(:mod:`verl_videorft.video.writer`, the one clip writer)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def media_dir() -> Path:
    """``../shared/media`` (real videos, broken ones included); skips when absent (a user's clone)."""
    if not MEDIA.is_dir():
        pytest.skip("../shared/media not present")
    return MEDIA


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """A 320×240, 48-frame, 24 fps H.264 clip (every frame different)."""
    from verl_videorft.video.writer import moving_frames, write_clip

    return write_clip(tmp_path_factory.mktemp("clips") / "moving.mp4", moving_frames(48, 320, 240), fps=24)


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory) -> Path:
    """A tiny random Qwen2.5-VL (model, tokenizer, processor) saved locally."""
    from verl_videorft.testing import build_tiny_qwen25vl

    return build_tiny_qwen25vl(tmp_path_factory.mktemp("models") / "tiny-qwen25vl")


@pytest.fixture(scope="session")
def tiny_qwen3(tmp_path_factory) -> Path:
    """A tiny random Qwen3-VL (patch 16 × merge 2: frames in multiples of 32) saved locally."""
    from verl_videorft.testing import build_tiny_qwen3vl

    return build_tiny_qwen3vl(tmp_path_factory.mktemp("models") / "tiny-qwen3vl")


@pytest.fixture(scope="session")
def tiny_siglip(tmp_path_factory) -> Path:
    """A tiny random SigLIP (model + processor) saved locally."""
    from verl_videorft.testing import build_tiny_siglip

    return build_tiny_siglip(tmp_path_factory.mktemp("models") / "tiny-siglip")


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray instance with two CPUs for one test module (skips without Ray)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
