"""Engines: what runs a stage's model. Hugging Face transformers, vLLM offline, or any
OpenAI-compatible HTTP endpoint; chosen per stage (:class:`~verl_videorft.cot.settings.EngineSpec`).

An engine takes a batch of :class:`Request` (chat messages as plain strings, plus the clip's
frames for the stages that look at them) and returns one :class:`Reply` per request, in order.
A request that fails on its own (an HTTP 500 after all retries, a time-out, a too-long prompt)
returns a reply with ``error`` set; a failure that would fail every request (bad credentials)
raises :class:`AuthError` and stops the run.

    >>> engine = make_engine(EngineSpec("hf", "/models/tiny"), CotSettings())   # doctest: +SKIP
    >>> engine.generate([Request([{"role": "user", "content": "hi"}], GenSettings())])  # doctest: +SKIP
    [Reply(text='...', tokens_in=12, tokens_out=8, error=None)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from verl_videorft.cot.settings import CotSettings, EngineSpec, GenSettings


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


def make_engine(spec: EngineSpec, settings: CotSettings) -> Engine:
    """Build the engine a spec names (heavy imports happen here, not at module import)."""
    if spec.kind == "hf":
        from verl_videorft.cot.hf_engine import HFEngine

        return HFEngine(spec.model)
    if spec.kind == "vllm":
        from verl_videorft.cot.vllm_engine import VLLMEngine

        return VLLMEngine(spec.model)
    from verl_videorft.cot.http_engine import OpenAIEngine

    return OpenAIEngine(spec.model, spec.base_url or "", settings.http)


class EngineCache:
    """One engine per spec in a process: stages that name the same model share it."""

    def __init__(self, settings: CotSettings, engines: dict[str, Engine] | None = None):
        self.settings = settings
        self._by_spec: dict[EngineSpec, Engine] = {}
        self._given = dict(engines or {})

    def get(self, stage: str, spec: EngineSpec | None) -> Engine:
        if stage in self._given:
            return self._given[stage]
        if spec is None:
            raise ValueError(f"stage {stage!r} needs an engine: pass --engine {stage}=KIND and "
                             f"--model {stage}=MODEL (or one --engine/--model for all stages)")
        if spec not in self._by_spec:
            self._by_spec[spec] = make_engine(spec, self.settings)
        return self._by_spec[spec]
