"""What every CoT engine speaks: :class:`Request` in, :class:`Reply` out, :class:`AuthError` when
every request would fail, and the two helpers the engines share. The engines themselves
(``hf_engine``, ``vllm_engine``, ``http_engine``) and :func:`~verl_videorft.cot.engines.make_engine`
build on this module; it imports none of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from verl_videorft.cot.settings import GenSettings


class AuthError(RuntimeError):
    """The endpoint refused the credentials (HTTP 401/403): every request would fail the same way."""


@dataclass
class Request:
    """One model call. ``frames``: uint8 ``[T, H, W, 3]`` from the project's sampler (``T == 1`` for
    an image) with its metadata ``meta`` and the frames' ``timestamps`` in seconds; ``None`` for
    text-only calls. ``retry`` asks for sampling (see ``GenSettings.retry_temperature``)."""

    messages: list[dict]
    gen: GenSettings
    frames: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    timestamps: list[float] = field(default_factory=list)
    retry: bool = False

    @property
    def is_image(self) -> bool:
        return self.frames is not None and self.meta.get("backend") == "pil"

    def temperature(self) -> float:
        g = self.gen
        return max(g.temperature, g.retry_temperature) if self.retry else g.temperature


@dataclass
class Reply:
    """A model's text and token counts, or the reason it failed (``error``)."""

    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    error: str | None = None


class Engine(Protocol):
    name: str

    def generate(self, requests: Sequence[Request]) -> list[Reply]: ...


def vision_messages(messages: list[dict], kind: str) -> list[dict]:
    """The messages with a ``{"type": kind}`` item before the first user turn's text (HF / vLLM
    chat templates put the vision placeholder there)."""
    out, placed = [], False
    for m in messages:
        if m["role"] == "user" and not placed:
            out.append({"role": "user", "content": [{"type": kind}, {"type": "text", "text": m["content"]}]})
            placed = True
        else:
            out.append(dict(m))
    return out


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]
