"""Engines: what runs a stage's model. Hugging Face transformers, vLLM offline, or any
OpenAI-compatible HTTP endpoint; chosen per stage (:class:`~verl_videorft.cot.settings.EngineSpec`).

An engine (:mod:`verl_videorft.cot.requests`) takes a batch of ``Request`` (chat messages as plain
strings, plus the clip's frames for the stages that look at them) and returns one ``Reply`` per
request, in order.
A request that fails on its own (an HTTP 500 after all retries, a time-out, a too-long prompt)
returns a reply with ``error`` set; a failure that would fail every request (bad credentials)
raises ``AuthError`` and stops the run.

    >>> engine = make_engine(EngineSpec("hf", "/models/tiny"), CotSettings())   # doctest: +SKIP
    >>> engine.generate([Request([{"role": "user", "content": "hi"}], GenSettings())])  # doctest: +SKIP
    [Reply(text='...', tokens_in=12, tokens_out=8, error=None)]
"""

from __future__ import annotations

from verl_videorft.cot.requests import Engine
from verl_videorft.cot.settings import CotSettings, EngineSpec


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
