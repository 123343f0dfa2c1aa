"""Rollout side of verl-videorft; nothing is imported here (verl loads the plugin in every worker).

- :mod:`.agent_loop`   ``VideoAgentLoop`` (agent loop ``videorft_agent``): frames, provenance, bad samples.
- :mod:`.hf_server`    HF-transformers rollout backend ``hf`` (replica, server actor, weight-sync adapter).

All registrations happen in :mod:`verl_videorft.plugin`.
"""
