"""HF-transformers multimodal rollout backend (rollout name ``hf``), so verl's ``main_ppo`` runs on CPU.

verl 0.9.1 serves rollouts only through async servers (vLLM, SGLang, TRT-LLM), none of which starts
on a CPU. This module adds a fourth through verl's own registries:

- :class:`HFRolloutServer`: a Ray actor holding an HF model; ``generate(...)`` samples with the
  rollout's temperature/top_p/top_k and returns verl's ``TokenOutput`` with per-token log-probs
  (``log_softmax(logits / T)``, the same quantity verl's actor recomputes).
- :class:`HFRolloutReplica`: the ``RolloutReplica`` that launches one server per replica (hybrid mode:
  beside the FSDP workers); registered in ``RolloutReplicaRegistry`` as ``hf``.
- :class:`HFServerAdapter`: the ``BaseRollout`` living in each hybrid actor worker; verl's
  ``update_weights`` hook hands it the new full weights after every step and it pushes them to its
  server. Registered in ``_ROLLOUT_REGISTRY[("hf", "async")]``.

Vision inputs are rebuilt on the server from the agent loop's frames with verl's
``build_multimodal_processor_inputs`` and the same ``mm_processor_kwargs`` the training forward pass
uses, so ``video_grid_thw`` / ``second_per_grid_ts`` match between rollout and update; the model's
M-RoPE is the plugin's time axis (:mod:`.time_axis`), and Qwen3-VL spans are expanded as vLLM
expands them (:mod:`.video_spans`).

Example (what the recipe sets)::

    actor_rollout_ref.rollout.name=hf actor_rollout_ref.rollout.mode=async
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Generator
from typing import Any

import ray
import torch
from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica, TokenOutput

from verl_videorft.rollout import time_axis
from verl_videorft.rollout.hf_inputs import rebuild_vision_inputs

logger = logging.getLogger(__name__)
_SERVER_PREFIX = "hf_server_"


def server_actor_name(replica_rank: int, node_rank: int = 0) -> str:
    """Ray actor name of a replica's server (looked up by the adapter in the actor worker)."""
    return f"{_SERVER_PREFIX}{replica_rank}_{node_rank}"


def _load_model(path: str, trust_remote_code: bool = False) -> torch.nn.Module:
    """Vision-language model when the config is one, else a causal LM (float32, sdpa)."""
    import transformers

    kwargs = dict(torch_dtype=torch.float32, attn_implementation="sdpa", trust_remote_code=trust_remote_code)
    try:
        model = transformers.AutoModelForImageTextToText.from_pretrained(path, **kwargs)
    except (ValueError, KeyError):
        model = transformers.AutoModelForCausalLM.from_pretrained(path, **kwargs)
    time_axis.install_on_model(model)  # Qwen2.5-VL: vLLM's M-RoPE rule, as training uses
    return model.eval()


class HFRolloutServer:
    """One HF model serving token-in/token-out generation for a replica (a Ray actor).

    Requests are served one at a time (a lock): on CPU, interleaving forward passes only thrashes
    caches. Methods verl calls on servers it does not need here (sleep, KV cache...) are no-ops.
    """

    def __init__(self, config: Any, model_config: Any, replica_rank: int = 0, **_: Any) -> None:
        from omegaconf import DictConfig

        if isinstance(config, DictConfig):
            from verl.utils.config import omega_conf_to_dataclass

            config = omega_conf_to_dataclass(config)
        if isinstance(model_config, DictConfig):  # the replica passes the raw Hydra node
            from verl.utils.config import omega_conf_to_dataclass
            from verl.workers.config import HFModelConfig

            model_config = omega_conf_to_dataclass(model_config, dataclass_type=HFModelConfig)
        self.config = config
        self.model_config = model_config
        self.replica_rank = replica_rank
        self.global_steps: int | None = None
        self.weight_version = 0
        self._lock = threading.Lock()
        torch.set_num_threads(int(os.environ.get("VIDEORFT_ROLLOUT_THREADS", "1")))
        path = getattr(model_config, "local_path", None) or model_config.path
        self.model = _load_model(path, bool(getattr(model_config, "trust_remote_code", False)))
        self.processor = model_config.processor
        self.tokenizer = model_config.tokenizer
        gen_cfg = getattr(self.model, "generation_config", None)
        eos = getattr(gen_cfg, "eos_token_id", None) or self.tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos])
        self.eos_ids.discard(None)
        # Vision placeholders must never be sampled: a (random or badly tuned) model that emits one
        # shifts verl's M-RoPE bookkeeping, which then looks for a frame grid that does not exist.
        cfg = self.model.config
        self.suppress_ids = sorted({i for i in (getattr(cfg, k, None) for k in (
            "image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id"))
            if isinstance(i, int)})

    # ---- generation -------------------------------------------------------------------------
    async def generate(self, prompt_ids: list[int], sampling_params: dict[str, Any], request_id: str,
                       image_data: list[Any] | None = None, video_data: list[Any] | None = None,
                       audio_data: list[Any] | None = None,
                       mm_processor_kwargs: dict[str, Any] | None = None, **_: Any) -> TokenOutput:
        """verl's server contract: prompt token ids (vision pads already expanded) → ``TokenOutput``."""
        return await asyncio.to_thread(self._generate_sync, list(prompt_ids), dict(sampling_params),
                                       image_data, video_data, mm_processor_kwargs or {})

    def _vision_inputs(self, prompt_ids: list[int], images, videos, mm_kwargs) -> tuple[list[int], dict]:
        return rebuild_vision_inputs(self.processor, self.tokenizer, self.model.config, prompt_ids, images, videos,
                                     mm_kwargs)

    @torch.no_grad()
    def _generate_sync(self, prompt_ids, sampling_params, images, videos, mm_kwargs) -> TokenOutput:
        cfg = self.config
        temperature = float(sampling_params.get("temperature", 1.0))
        top_p = float(sampling_params.get("top_p", 1.0))
        top_k = int(sampling_params.get("top_k", -1) or -1)
        want_logprobs = bool(sampling_params.get("logprobs", False))
        max_tokens = sampling_params.get("max_tokens") or sampling_params.get("max_new_tokens")
        if max_tokens is None:
            max_tokens = min(cfg.response_length, cfg.prompt_length + cfg.response_length - len(prompt_ids))
        max_tokens = max(1, int(max_tokens))
        with self._lock:
            prompt_ids, vision = self._vision_inputs(prompt_ids, images, videos, mm_kwargs)
            input_ids = torch.tensor([prompt_ids], dtype=torch.long)
            out = self._decode_loop(input_ids, vision, max_tokens, temperature, top_p, top_k)
        token_ids, logps, finished = out
        return TokenOutput(
            token_ids=token_ids,
            log_probs=logps if want_logprobs else None,
            stop_reason="completed",
            num_preempted=0,
            extra_fields={"global_steps": self.global_steps, "weight_version": self.weight_version,
                          "finish_reason": "stop" if finished else "length"},
        )

    def _decode_loop(self, input_ids, vision, max_tokens, temperature, top_p, top_k):
        """HF ``generate`` (it owns Qwen-VL's M-RoPE and cache bookkeeping) with the raw logits kept.

        The log-prob of each sampled token is ``log_softmax(raw_logits / T)``, what verl's actor
        recomputes, independent of top-p/top-k filtering. Returns (tokens, logprobs, hit_eos).
        """
        sample = temperature > 0
        out = self.model.generate(
            input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **vision,
            do_sample=sample, temperature=temperature if sample else None,
            top_p=top_p if sample else None, top_k=(top_k if top_k > 0 else 0) if sample else None,
            repetition_penalty=1.0, max_new_tokens=max_tokens, min_new_tokens=1,
            eos_token_id=sorted(self.eos_ids) or None, pad_token_id=self.tokenizer.pad_token_id,
            suppress_tokens=self.suppress_ids or None,
            return_dict_in_generate=True, output_logits=True,
        )
        tokens = out.sequences[0, input_ids.shape[1]:].tolist()
        logps = []
        for step, tok in enumerate(tokens):
            logits = out.logits[step][0].float()
            scaled = logits / temperature if sample else logits
            logps.append(float(torch.log_softmax(scaled, dim=-1)[tok]))
        hit_eos = bool(tokens) and tokens[-1] in self.eos_ids
        return tokens, logps, hit_eos

    # ---- weight sync --------------------------------------------------------------------------
    def update_weights(self, named_tensors: dict[str, torch.Tensor], global_steps: int | None = None) -> dict:
        """Load full (unsharded) tensors from the trainer; returns counts of what was loaded."""
        with self._lock:
            own = self.model.state_dict()
            alias = self._checkpoint_names(own)
            loaded, unknown = 0, []
            for name, tensor in named_tensors.items():
                target = own.get(name)
                if target is None and name in alias:
                    target = own[alias[name]]
                if target is None:
                    unknown.append(name)
                    continue
                target.copy_(tensor.to(dtype=target.dtype).view_as(target))
                loaded += 1
            if loaded == 0:
                raise RuntimeError(f"hf rollout: no weight name matched the model; first names sent: "
                                   f"{list(named_tensors)[:5]}, model has e.g. {list(own)[:5]}")
            self.weight_version += 1
            if global_steps is not None:
                self.global_steps = global_steps
        if unknown:
            logger.warning("hf rollout: %d weight names not in the rollout model, e.g. %s", len(unknown), unknown[:3])
        return {"loaded": loaded, "unknown": len(unknown), "weight_version": self.weight_version}

    def _checkpoint_names(self, own: dict) -> dict[str, str]:
        """verl's engine sends checkpoint-style names (``convert_weight_keys``); map them back."""
        if not hasattr(self, "_alias"):
            from verl.utils.model import convert_weight_keys

            ckpt = list(convert_weight_keys(dict.fromkeys(own), self.model))
            self._alias = {c: o for c, o in zip(ckpt, own) if c != o}
        return self._alias

    def get_weight_version(self) -> int:
        return self.weight_version

    async def set_global_steps(self, global_steps: int) -> None:
        self.global_steps = global_steps

    # ---- verl's server lifecycle: nothing to free on CPU ----------------------------------------
    def get_server_address(self) -> tuple[str, int]:
        return ray.util.get_node_ip_address(), 0

    async def wake_up(self, tags: list[str] | None = None) -> None: ...
    async def sleep(self) -> None: ...
    async def clear_kv_cache(self) -> None: ...
    async def release_kv_cache(self) -> None: ...
    async def resume_kv_cache(self) -> None: ...
    async def wait_for_requests_to_drain(self) -> None: ...
    async def resume_generation(self) -> None: ...
    async def start_profile(self, **kwargs: Any) -> None: ...
    async def stop_profile(self) -> None: ...

    async def abort_all_requests(self, reject_request: bool = False, **_: Any) -> dict[str, Any]:
        return {"aborted_count": 0, "request_ids": []}

    async def abort_request(self, request_id: str, **_: Any) -> dict[str, Any]:
        return {"aborted": False, "request_id": request_id}


class HFRolloutReplica(RolloutReplica):
    """``RolloutReplica`` for the HF backend: one :class:`HFRolloutServer` per replica, on CPU."""

    def rollout_worker_use_gpu(self) -> bool:
        return False

    async def launch_servers(self) -> None:
        if self.nnodes != 1:
            raise ValueError(f"hf rollout: one node per replica only (got nnodes={self.nnodes}); "
                             "use tensor_model_parallel_size=1")
        name = server_actor_name(self.replica_rank) + self.name_suffix
        options: dict[str, Any] = dict(name=name, num_cpus=0, max_concurrency=self.max_concurrency)
        if self.workers:  # hybrid: sit on the node of this replica's training worker
            node_id = await self.workers[0].__ray_call__.remote(lambda w: ray.get_runtime_context().get_node_id())
            options["scheduling_strategy"] = ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(
                node_id=node_id, soft=False)
        server = ray.remote(HFRolloutServer).options(**options).remote(
            config=self.config, model_config=self.model_config, replica_rank=self.replica_rank)
        ip, port = await server.get_server_address.remote()
        self.servers = [server]
        self._server_handle = server
        self._server_address = f"{ip}:{name}"


class HFServerAdapter(BaseRollout):
    """Lives in each hybrid actor worker; forwards verl's weight updates to the replica's server."""

    def __init__(self, config: Any, model_config: Any, device_mesh: Any = None, replica_rank: int = -1,
                 **_: Any) -> None:
        super().__init__(config, model_config, device_mesh)
        rank = int(os.environ.get("RANK", "0"))
        world = self.config.tensor_model_parallel_size * self.config.data_parallel_size * \
            self.config.pipeline_model_parallel_size
        self.replica_rank = rank // world if replica_rank == -1 else replica_rank
        self.rollout_rank = rank % world
        self.is_leader_rank = self.rollout_rank == 0
        self._server = None

    def _server_handle(self):
        if self._server is None:
            self._server = ray.get_actor(server_actor_name(self.replica_rank))
        return self._server

    async def resume(self, tags: list[str]) -> None:
        return None

    async def release(self) -> None:
        return None

    @torch.no_grad()
    async def update_weights(self, weights: Generator[tuple[str, torch.Tensor], None, None],
                             wire_format: str = "named_tensors", global_steps: int | None = None,
                             **kwargs: Any) -> None:
        if wire_format != "named_tensors":
            raise ValueError(f"hf rollout supports wire_format='named_tensors' only, got {wire_format!r}")
        # Every rank must drain the generator: FSDP gathers each full tensor collectively.
        state = {}
        for name, tensor in weights:
            if self.is_leader_rank:
                full = tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor
                state[name] = full.detach().to("cpu", copy=True)
        if self.is_leader_rank:
            await self._server_handle().update_weights.remote(state, global_steps)
