"""Image-text encoders for the semantic reward: Hugging Face SigLIP/CLIP, or sentence-transformers.

Every encoder returns L2-normalised float32 numpy embeddings and truncates text to its own text
length (64 tokens with max-length padding for SigLIP, as the paper's so400m; 77 for CLIP).
:func:`get_encoder` loads lazily, once per process per ``(backend, name, device)``; nothing is
loaded at import.

    >>> enc = get_encoder("google/siglip-so400m-patch14-384")        # doctest: +SKIP
    >>> enc.encode_texts(["a red ball rolls left"]).shape            # doctest: +SKIP
    (1, 1152)
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

DEFAULT_ENCODER = "google/siglip-so400m-patch14-384"
BACKENDS = ("auto", "hf", "sentence-transformers")

# A token is rarely over ~20 characters; cutting the text before tokenising keeps a 1 MB think
# block from costing a full tokenisation while leaving every realistic text unchanged.
_CHARS_PER_TOKEN_CAP = 32


class Encoder(Protocol):
    """What the semantic reward needs from an encoder."""

    name: str

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_images(self, frames: np.ndarray) -> np.ndarray: ...


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _features(out):
    """transformers 5 may return a model output instead of a tensor from ``get_*_features``."""
    return getattr(out, "pooler_output", out) if not hasattr(out, "detach") else out


class HFEncoder:
    """SigLIP / CLIP (any ``AutoModel`` with ``get_text_features`` and ``get_image_features``)."""

    def __init__(self, name_or_path: str, device: str = "cpu", batch_size: int = 32):
        import torch
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        self.name = str(name_or_path)
        self.device = device
        self.batch_size = batch_size
        self.model = AutoModel.from_pretrained(name_or_path).eval().to(device)
        self.tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        self.image_processor = AutoImageProcessor.from_pretrained(name_or_path)
        text_cfg = getattr(self.model.config, "text_config", self.model.config)
        self.max_length = int(getattr(text_cfg, "max_position_embeddings", 64))
        self._torch = torch
        self._is_siglip = getattr(self.model.config, "model_type", "").startswith("siglip")

    @property
    def text_length(self) -> int:
        return self.max_length

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        cut = [t[: self.max_length * _CHARS_PER_TOKEN_CAP] for t in texts]
        # SigLIP was trained with max-length padding; CLIP pools at EOS and is indifferent to it.
        batch = self.tokenizer(cut, padding="max_length", truncation=True,
                               max_length=self.max_length, return_tensors="pt")
        # SigLIP was trained attending over its padding (its processor returns no mask); CLIP
        # needs the mask.
        keys = ("input_ids",) if self._is_siglip else ("input_ids", "attention_mask")
        batch = {k: batch[k].to(self.device) for k in keys if k in batch}
        with self._torch.inference_mode():
            out = _features(self.model.get_text_features(**batch))
        return _normalise(out.float().cpu().numpy())

    def encode_images(self, frames: np.ndarray) -> np.ndarray:
        outs = []
        for i in range(0, len(frames), self.batch_size):
            chunk = [np.array(f) for f in frames[i:i + self.batch_size]]  # writable copies for torch
            pixels = self.image_processor(images=chunk, return_tensors="pt")["pixel_values"]
            with self._torch.inference_mode():
                out = _features(self.model.get_image_features(pixel_values=pixels.to(self.device)))
            outs.append(out.float().cpu().numpy())
        return _normalise(np.concatenate(outs, axis=0))


class SentenceTransformerEncoder:
    """Any sentence-transformers model that embeds both images (PIL) and texts (e.g. CLIP)."""

    def __init__(self, name_or_path: str, device: str = "cpu", batch_size: int = 32):
        from sentence_transformers import SentenceTransformer

        self.name = str(name_or_path)
        self.batch_size = batch_size
        self.model = SentenceTransformer(str(name_or_path), device=device)
        # A saved tokenizer often has no max length (ST then reports ~1e30): cap at the text
        # tower's position table, as the HF backend does, so long texts truncate, not crash.
        hf = getattr(self.model[0], "auto_model", None)
        text_cfg = getattr(getattr(hf, "config", None), "text_config", None)
        limits = [n for n in (self.model.max_seq_length,
                              getattr(text_cfg, "max_position_embeddings", None)) if n]
        self.max_length = int(min(limits)) if limits else 77
        self.model.max_seq_length = self.max_length

    @property
    def text_length(self) -> int:
        return self.max_length

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        cut = [t[: self.max_length * _CHARS_PER_TOKEN_CAP] for t in texts]
        return _normalise(self.model.encode(cut, batch_size=self.batch_size,
                                            convert_to_numpy=True, show_progress_bar=False))

    def encode_images(self, frames: np.ndarray) -> np.ndarray:
        from PIL import Image

        images = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
        return _normalise(self.model.encode(images, batch_size=self.batch_size,
                                            convert_to_numpy=True, show_progress_bar=False))


def resolve_backend(name_or_path: str, backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"semantic encoder backend must be one of {BACKENDS}, got {backend!r}")
    if backend != "auto":
        return backend
    # A local sentence-transformers folder carries modules.json; everything else goes to HF.
    path = Path(name_or_path)
    return "sentence-transformers" if (path / "modules.json").is_file() else "hf"


_LOCK = threading.Lock()
_ENCODERS: dict[tuple[str, str, str], Encoder] = {}


def get_encoder(name_or_path: str = DEFAULT_ENCODER, backend: str = "auto",
                device: str = "auto") -> Encoder:
    """The process-wide encoder for ``(backend, name, device)``, loaded on first call.

    ``device="auto"`` picks ``cuda`` when this process sees a GPU, else ``cpu``.

    >>> get_encoder("x", backend="nope")
    Traceback (most recent call last):
    ...
    ValueError: semantic encoder backend must be one of ('auto', 'hf', 'sentence-transformers'), got 'nope'
    """
    kind = resolve_backend(str(name_or_path), backend)
    if device == "auto":  # a GPU when this process has one (the Ray encoder actor), else CPU
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    key = (kind, str(name_or_path), device)
    with _LOCK:
        if key not in _ENCODERS:
            cls = HFEncoder if kind == "hf" else SentenceTransformerEncoder
            _ENCODERS[key] = cls(str(name_or_path), device=device)
        return _ENCODERS[key]


def loaded_encoders() -> list[tuple[str, str, str]]:
    """Keys of the encoders this process has loaded (to check laziness)."""
    return list(_ENCODERS)
