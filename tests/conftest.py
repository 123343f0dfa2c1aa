"""Shared fixtures. No network: tiny models are built from configs, videos are generated."""

from __future__ import annotations

import os
import shutil
import subprocess
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


def make_clip(path: Path, *, width: int = 320, height: int = 240, frames: int = 48, fps: int = 24,
              rotate: int | None = None) -> Path:
    """A small real H.264 clip made with ffmpeg (testsrc pattern)."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    encoded = path if rotate is None else path.with_name(path.stem + ".norotate" + path.suffix)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc=size={width}x{height}:rate={fps}", "-frames:v", str(frames),
                    "-pix_fmt", "yuv420p", "-c:v", "libx264", str(encoded)], check=True)
    if rotate is not None:
        # ffmpeg drops a rotate tag given while re-encoding; set it on a stream copy instead.
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(encoded), "-c", "copy",
                        "-metadata:s:v:0", f"rotate={rotate}", str(path)], check=True)
    return path


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """A 320×240, 48-frame, 24 fps H.264 clip."""
    return make_clip(tmp_path_factory.mktemp("clips") / "testsrc.mp4")


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory) -> Path:
    """A tiny random Qwen2.5-VL (model, tokenizer, processor) saved locally."""
    from verl_videorft.testing import build_tiny_qwen25vl

    return build_tiny_qwen25vl(tmp_path_factory.mktemp("models") / "tiny-qwen25vl")


@pytest.fixture(scope="session")
def tiny_siglip(tmp_path_factory) -> Path:
    """A tiny random SigLIP (model + processor) saved locally."""
    from verl_videorft.testing import build_tiny_siglip

    return build_tiny_siglip(tmp_path_factory.mktemp("models") / "tiny-siglip")
