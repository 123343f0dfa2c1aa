"""Rollout side of verl-videorft; nothing is imported here (verl loads the plugin in every worker).

- :mod:`.agent_loop`   ``VideoAgentLoop`` (agent loop ``videorft_agent``): frames, provenance, bad samples.
- :mod:`.hf_server`    HF-transformers rollout backend ``hf`` (replica, server actor, weight-sync adapter).
- :mod:`.hf_inputs`    the hf server's vision inputs, rebuilt from a request's frames.
- :mod:`.time_axis`    one time axis for Qwen2.5-VL video (vLLM 0.24's M-RoPE rule everywhere).
- :mod:`.video_spans`  Qwen3-VL video spans in vLLM's layout; frame sides vs patch × merge.

All registrations happen in :mod:`verl_videorft.plugin`.
"""
