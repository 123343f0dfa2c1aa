"""Offline jobs on Ray Data: one streaming pipeline, an actor pool per step, the driver writes.

    rows -> ray.data.from_items -> map_batches(step 1 actors) -> ... -> driver: on_batch(batch)

Three commands run on it: ``videorft cot build --ray`` (a step per stage), ``videorft data
precompute --ray`` (decoding on CPU actors, then the semantic encoder on GPU actors) and
``videorft eval --ray`` (one step: actors that hold the model). A step is a worker class that Ray
Data builds once per actor (so a model loads once per actor) and calls on batches of rows. Rows
stream through all steps at once: on a cluster every step works at the same time on different
machines. The driver is the only writer of a job's results: ``on_batch`` gets each finished batch
as it comes out and appends it (fsynced) to the job's file; a job sends only its unfinished work
into the pipeline, so running the same command again resumes. (Workers may fill caches whose
entries are written whole or not at all: the frame and embedding caches.)

Where the actors go (:func:`pool_sizes`): a model step's actor gets ``gpus`` GPUs (default: 1
when the cluster has GPUs, else 0), and there are as many actors as the cluster's GPUs hold
(``workers`` overrides); steps without a model share the CPUs that the model actors leave.
``address`` None starts a local Ray instance on this machine; ``"auto"`` (or ``ray://host:10001``)
joins a running cluster, whose nodes must have this package installed. A folder the workers read
or write (media, frame cache) must be one every node sees.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from verl_videorft.errors import UsageError

OBJ_COL = "obj"  # one pickled Python object per row (no Arrow schema to agree on)


@dataclass
class RayOptions:
    """Where a job runs: the cluster, and the actors of each step (None: sized to the cluster)."""

    address: str | None = None  # None: a local Ray instance; "auto": the cluster this machine is in
    workers: int | None = None  # actors per step
    gpus: float | None = None   # GPUs per actor of a model step
    cpus: float = 1.0           # CPUs per actor


@dataclass
class Step:
    """One ``map_batches``: ``worker(**kwargs)`` once per actor, then ``worker(batch)`` per batch.

    ``model``: the step holds a model, so its actors get GPUs; ``gpus`` fixes its GPUs per actor
    (a vLLM engine with tensor parallelism needs exactly that many).
    """

    worker: type
    kwargs: dict[str, Any] = field(default_factory=dict)
    model: bool = False
    gpus: float | None = None


class ObjectWorker:
    """Base of a step's worker on :data:`OBJ_COL` rows: unpickles a batch, calls :meth:`process`,
    pickles what it returns (one object out per object in)."""

    def process(self, objs: list[Any]) -> list[Any]:
        raise NotImplementedError

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        return {OBJ_COL: [pickle.dumps(o) for o in self.process(unpack(batch))]}


def pack(objs: Sequence[Any]) -> list[dict[str, bytes]]:
    """Rows for :func:`run_pipeline` from Python objects (their classes must import on the workers)."""
    return [{OBJ_COL: pickle.dumps(o)} for o in objs]


def unpack(batch: dict[str, np.ndarray]) -> list[Any]:
    """The objects of a batch of :data:`OBJ_COL` rows."""
    return [pickle.loads(b) for b in batch[OBJ_COL]]


def init_ray(address: str | None = None) -> Any:
    """``ray``, initialised (a local instance when ``address`` is None) unless it already is."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    return ray


def pool_sizes(steps: Sequence[Step], options: RayOptions, cpus: float, gpus: float) -> list[tuple[int, float]]:
    """``(actors, GPUs per actor)`` of each step on a cluster of ``cpus`` CPUs and ``gpus`` GPUs.

    >>> steps = [Step(object), Step(object, model=True)]
    >>> pool_sizes(steps, RayOptions(), cpus=64, gpus=8)      # 8 model actors, decoding on 56 CPUs
    [(56, 0.0), (8, 1.0)]
    >>> pool_sizes(steps, RayOptions(), cpus=2, gpus=0)       # no GPU: the model runs on a CPU
    [(1, 0.0), (1, 0.0)]
    >>> pool_sizes([Step(object, model=True, gpus=4)], RayOptions(), cpus=64, gpus=8)  # vLLM, TP 4
    [(2, 4.0)]
    """
    sizes: list[tuple[int, float] | None] = []
    model_cpus = 0.0
    for step in steps:
        per = float(step.gpus if step.gpus is not None else options.gpus if options.gpus is not None
                    else (1.0 if gpus >= 1 else 0.0)) if step.model else 0.0
        if per > 0:
            n = options.workers or max(1, int(gpus // per))
            model_cpus += n * options.cpus
            sizes.append((n, per))
        else:
            sizes.append(None)  # shares the CPUs left, below
    cpu_steps = sizes.count(None)
    left = max(cpus - model_cpus, options.cpus * cpu_steps)
    n_cpu = options.workers or max(1, int(left // (options.cpus * max(cpu_steps, 1))))
    return [s if s is not None else (n_cpu, 0.0) for s in sizes]


def run_pipeline(rows: Sequence[dict[str, Any]], steps: Sequence[Step], options: RayOptions, batch_size: int,
                 on_batch: Callable[[dict[str, np.ndarray]], None]) -> None:
    """Stream ``rows`` through ``steps`` on Ray Data; call ``on_batch`` (in this process) with each
    finished batch. An exception (``on_batch``'s included) stops the pipeline and its actors."""
    if not rows:
        return
    ray = init_ray(options.address)
    ray.data.DataContext.get_current().enable_progress_bars = False  # the job's own bars count rows
    resources = ray.cluster_resources()
    sizes = pool_sizes(steps, options, resources.get("CPU", 1.0), resources.get("GPU", 0.0))
    short = [g for _, g in sizes if g > resources.get("GPU", 0.0)]
    if short:  # Ray would wait for them forever
        raise UsageError(f"an actor needs {max(short):g} GPU(s) but the Ray cluster has "
                         f"{resources.get('GPU', 0.0):g}")
    ds = ray.data.from_items(list(rows))
    for step, (actors, gpus) in zip(steps, sizes):
        ds = ds.map_batches(step.worker, batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=actors),
                            num_gpus=gpus, num_cpus=options.cpus, fn_constructor_kwargs=step.kwargs)
    batches = iter(ds.iter_batches(batch_size=batch_size, batch_format="numpy"))  # a generator
    try:
        for batch in batches:
            on_batch(batch)
    finally:
        batches.close()  # shuts the streaming executor down now, actors included, not at garbage collection
