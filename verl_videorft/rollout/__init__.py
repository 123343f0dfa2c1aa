"""Rollout side of verl-videorft; nothing is imported here (verl loads the plugin in every worker).

- :mod:`.agent_loop`   ``VideoAgentLoop`` (agent loop ``videorft_agent``): frames, provenance, bad samples.
- :mod:`.hf_server`    HF-transformers rollout backend ``hf`` (replica, server actor, weight-sync adapter).
- :mod:`.cpu_platform` verl platform ``cpu`` (device cpu, gloo) and the gloo backend-string fix.
- :mod:`.cpu_engine`   verl's FSDP engines registered for device ``cpu``.
- :mod:`.trainer`      trainer mode ``videorft_sync``: verl's sync trainer + reward-component metrics.

All registrations happen in :mod:`verl_videorft.plugin`.
"""
