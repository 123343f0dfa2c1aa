"""Does what the demo and training need import and work: the video decoders (decoding a clip, not
just importing), torchvision (the Qwen2-VL video processor needs it; CPU installs need the shim),
and the Qwen2.5-VL processor classes?"""

from __future__ import annotations

import importlib.metadata as metadata
import site
import sysconfig
import tempfile
from pathlib import Path

import numpy as np

from verl_videorft.doctor.check import Check, short

VERSION_PACKAGES = ("verl", "torch", "transformers", "vllm", "decord", "av", "qwen-vl-utils",
                    "sentence-transformers", "ray", "verl-videorft")
# transformers classes the Qwen2.5-VL processor is built from (the video one needs torchvision)
PROCESSOR_CLASSES = ("Qwen2_5_VLProcessor", "Qwen2VLImageProcessor", "Qwen2VLVideoProcessor")
SHIM_HINT = "python -m verl_videorft.cpu.torchvision_shim --install"


def versions() -> dict[str, str]:
    out = {}
    for name in VERSION_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def make_test_clip(folder: Path) -> Path:
    """An 8-frame 64x48 clip with moving content, written with PyAV."""
    from verl_videorft.data.demo_set import write_video

    frames = np.zeros((8, 48, 64, 3), dtype=np.uint8)
    for t in range(len(frames)):
        frames[t, :, 8 * t:8 * t + 8] = 255
    path = folder / "doctor_clip.mp4"
    write_video(frames, path, fps=8)
    return path


def decode_with_decord(clip: Path) -> int:
    import decord

    reader = decord.VideoReader(str(clip))
    return int(reader.get_batch([0, len(reader) - 1]).asnumpy().shape[0])


def decode_with_pyav(clip: Path) -> int:
    import av

    with av.open(str(clip)) as container:
        return sum(1 for _ in container.decode(video=0))


def check_decoders() -> Check:
    """decord and PyAV each decode a test clip; then ``sample_frames`` does, with the default order.

    decord is a dependency, one of the two decoders the frame sampler tries, and the reader
    qwen-vl-utils uses under ``FORCE_QWENVL_VIDEO_READER=decord`` (the demo sets it), so a missing
    or broken decord fails the check even though the sampler would quietly fall back to PyAV.
    """
    with tempfile.TemporaryDirectory(prefix="videorft-doctor-") as folder:
        try:
            clip = make_test_clip(Path(folder))
        except Exception as exc:  # noqa: BLE001
            return Check("decoders", False, [f"PyAV cannot write a test clip: {short(exc)}"])
        found, problems = [], []
        for name, decode in (("decord", decode_with_decord), ("av", decode_with_pyav)):
            try:
                decode(clip)
                found.append(f"{name} {versions()[name]}")
            except ModuleNotFoundError as exc:
                problems.append(f"{name} is not installed ({short(exc)})")
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{name} is installed but cannot decode a test clip: {short(exc)}")
        if problems:
            return Check("decoders", False, problems)
        from verl_videorft.video import backend_order, sample_frames

        try:
            sample_frames(clip, "train", cache=False)
        except Exception as exc:  # noqa: BLE001
            return Check("decoders", False, [f"sample_frames fails on a test clip: {short(exc)}"])
        return Check("decoders", True, [f"{' and '.join(found)} decode a test clip; frame sampler order "
                                        f"{' > '.join(backend_order())}"])


def shim_installed() -> bool:
    from verl_videorft.cpu.torchvision_shim import PTH_NAME

    dirs = {*site.getsitepackages(), sysconfig.get_paths()["purelib"]}
    return any((Path(d) / PTH_NAME).is_file() for d in dirs)


def check_torchvision() -> Check:
    """torchvision imports (transformers' Qwen2-VL video processor needs it)."""
    try:
        import torchvision
        import torchvision.transforms.v2  # noqa: F401 - what transformers' video processors import
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "torchvision":
            return Check("torchvision", False, [
                "torchvision is not installed: transformers' Qwen2-VL video processor needs it (CPU: "
                f"pip install --no-deps torchvision matching torch, then {SHIM_HINT})"])
        return Check("torchvision", False, [f"torchvision does not import: {short(exc)}"])
    except Exception as exc:  # noqa: BLE001 - the CUDA build raises RuntimeError at import on CPU
        shim = "installed: check the torch/torchvision versions" if shim_installed() else f"missing: {SHIM_HINT}"
        return Check("torchvision", False, [f"torchvision does not import: {short(exc)} (on a CPU-only machine the "
                                            f"CUDA torchvision build needs the CPU shim, {shim})"])
    shim = " (CPU shim installed)" if shim_installed() else ""
    return Check("torchvision", True, [f"torchvision {torchvision.__version__} imports{shim}"])


def check_processor() -> Check:
    """The Qwen2.5-VL processor, image processor and video processor classes import."""
    import transformers

    for name in PROCESSOR_CLASSES:
        try:
            getattr(transformers, name)
        except Exception as exc:  # noqa: BLE001
            return Check("processor", False, [f"transformers.{name} does not import: {short(exc)}"])
    return Check("processor", True, [f"transformers {transformers.__version__}: {', '.join(PROCESSOR_CLASSES)}"])
