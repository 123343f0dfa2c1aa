"""``videorft eval --ray``: the benchmarks' samples spread over a Ray cluster's GPUs.

    samples -> map_batches(EvalWorker: a backend per actor) -> driver appends results.jsonl

Each actor builds the backend once (the model on its GPUs) and turns batches of samples into
result rows exactly as a local run does (:func:`~verl_videorft.evaluation.runner.run_batch`:
each sample prepared alone, a failed batch redone one by one). Only this process writes
``results.jsonl`` (:func:`~verl_videorft.evaluation.runner.run_rows`: fsync per batch, one line
per sample keyed by uid), so a run that dies resumes like a local one, and a local run can
resume a Ray run's folder and the other way round.

Actors (:mod:`verl_videorft.offline.ray_data`): ``hf``, one per GPU (on CPUs, one per CPU, when
the cluster has no GPU); ``vllm``, one per ``tensor_parallel_size`` GPUs (default 1: data parallel
over the cluster's GPUs).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from verl_videorft.evaluation.benchmarks import EvalSample
from verl_videorft.evaluation.runner import Write, run_batch, run_rows
from verl_videorft.offline.ray_data import ObjectWorker, RayOptions, Step, pack, run_pipeline, unpack


class EvalWorker(ObjectWorker):
    """Ray actor: one backend; a batch of :class:`EvalSample` in, their result rows out."""

    def __init__(self, backend: str, model: str, profile: Any, gen: Any, backend_kwargs: dict[str, Any],
                 prepare_workers: int = 1):
        import ray

        from verl_videorft.evaluation.backends import make_backend

        kwargs = dict(backend_kwargs)
        if backend == "hf" and kwargs.get("device") is None:  # a 0-GPU actor still sees its node's GPUs
            kwargs["device"] = "cuda" if ray.get_gpu_ids() else "cpu"
        self.backend = make_backend(backend, model, profile=profile, gen=gen, **kwargs)
        self.pool = ThreadPoolExecutor(prepare_workers, thread_name_prefix="eval-prepare") \
            if prepare_workers > 1 else None

    def process(self, samples: list[EvalSample]) -> list[dict]:
        return run_batch(samples, self.backend, self.pool)


def run_eval_ray(samples: list[EvalSample], out_path: str | Path, *, backend: str, model: str, profile: Any,
                 gen: Any, backend_kwargs: dict[str, Any], ray: RayOptions, batch_size: int = 4,
                 prepare_workers: int = 1, retry_failed: bool = False, progress: bool = True) -> dict[str, dict]:
    """:func:`~verl_videorft.evaluation.runner.run_eval` with the generation on Ray actors; all rows by uid."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    gpus = float(backend_kwargs.get("tensor_parallel_size") or 1) if backend == "vllm" else None
    step = Step(EvalWorker, {"backend": backend, "model": model, "profile": profile, "gen": gen,
                             "backend_kwargs": backend_kwargs, "prepare_workers": prepare_workers},
                model=True, gpus=gpus)

    def on_ray(pending: list[EvalSample], write: Write) -> None:
        run_pipeline(pack(pending), [step], ray, batch_size, lambda batch: write(unpack(batch)))

    return run_rows(samples, out_path, on_ray, retry_failed=retry_failed, progress=progress,
                    desc=f"eval ({backend}, ray)")
