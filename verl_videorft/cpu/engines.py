"""verl's FSDP engines registered for device ``cpu`` (``EngineRegistry`` is keyed by device).

verl 0.9.1 registers its FSDP/FSDP2 engines for ``cuda`` and ``npu``. Their code goes through the
platform for every device call, so they run on the ``cpu`` platform as they are, with one
exception: a forward-only engine (the reference policy) is wrapped with
``CPUOffloadPolicy(pin_memory=True)``, and pinning host memory needs an accelerator. On a CPU the
parameters already live in host memory, so the subclasses here build the FSDP2 wrapper without the
offload policy and change nothing else.

Registered under device ``cpu`` by :mod:`verl_videorft.plugin`::

    >>> from verl.workers.engine import EngineRegistry                        # doctest: +SKIP
    >>> EngineRegistry._engines["language_model"]["fsdp2"]["cpu"].__name__  # doctest: +SKIP
    'CPUFSDPEngineWithLMHead'
"""

from __future__ import annotations

from verl.workers.engine.fsdp.transformer_impl import FSDPEngineWithLMHead, FSDPEngineWithValueHead


class _NoHostOffloadMixin:
    """Build the FSDP wrapper as for a trainable engine (no ``CPUOffloadPolicy``)."""

    def _build_fsdp_module(self, module):
        forward_only = self.engine_config.forward_only
        self.engine_config.forward_only = False  # only read here to pick the offload policy
        try:
            return super()._build_fsdp_module(module)
        finally:
            self.engine_config.forward_only = forward_only


class CPUFSDPEngineWithLMHead(_NoHostOffloadMixin, FSDPEngineWithLMHead):
    """``FSDPEngineWithLMHead`` for the ``cpu`` platform."""


class CPUFSDPEngineWithValueHead(_NoHostOffloadMixin, FSDPEngineWithValueHead):
    """``FSDPEngineWithValueHead`` for the ``cpu`` platform."""
