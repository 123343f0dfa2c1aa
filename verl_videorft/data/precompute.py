"""``videorft data precompute``: fill the on-disk frame cache, and the semantic reward's frame
embeddings, before training (so step 1 does not pay for decoding and encoding every video).

    >>> precompute_frames(["train.jsonl"], resolve_profile("train").to_dict(), "/cache/frames")  # doctest: +SKIP
    (1200, {'/data/v/bad.mp4': 'corrupt ...'})

Resumable: a video whose cache file is on disk is loaded, not decoded or encoded again. With
``ray`` (:class:`~verl_videorft.offline.ray_data.RayOptions`) the same work runs on Ray Data:
decoding on CPU actors (every CPU the encoder actors leave), encoding on one actor per GPU (the
encoder loaded once per actor); the cache folders must be ones every node sees.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from verl_videorft.data.items import iter_items, progress
from verl_videorft.data.media_check import check_media, init_worker, run_parallel
from verl_videorft.offline.ray_data import ObjectWorker, RayOptions, Step, pack, run_pipeline, unpack

FRAME_CACHE_MB = 64  # memory tier per worker: the disk tier is what precompute fills
RAY_BATCH = 8  # videos per Ray batch: a few seconds of decoding, small next to Ray's per-batch cost


class FrameWorker(ObjectWorker):
    """Ray actor: decodes media paths into the frame cache; ``(path, error or None)`` each."""

    def __init__(self, profile: dict, cache_dir: str):
        init_worker(cache_dir, FRAME_CACHE_MB)
        self.profile = profile

    def process(self, paths: list[str]) -> list[tuple[str, str | None]]:
        return [check_media((p, self.profile, 1, True))[:2] for p in paths]


class EmbeddingWorker(ObjectWorker):
    """Ray actor: one encoder, on its GPU when Ray gave it one; ``(path, status, error or None)``
    each, status ``encoded``, ``cached`` or ``failed``. Frames come from the frame cache."""

    def __init__(self, profile: dict, frame_cache_dir: str, config: Any):
        import dataclasses

        import ray

        from verl_videorft.video import configure_frame_cache

        configure_frame_cache(disk_dir=frame_cache_dir)
        if config.device == "auto":  # a 0-GPU actor still sees every GPU of its node: ask Ray
            config = dataclasses.replace(config, device="cuda" if ray.get_gpu_ids() else "cpu")
        self.profile, self.config = profile, config

    def process(self, paths: list[str]) -> list[tuple[str, str, str | None]]:
        from verl_videorft.rewards.semantic import precompute_frame_embeddings

        errors: dict[str, str] = {}
        out = []
        for path in paths:  # one at a time: the counts then say what happened to this video
            counts = precompute_frame_embeddings([path], self.config, self.profile, on_error=errors.__setitem__)
            out.append((path, next(k for k, v in counts.items() if v), errors.get(path)))
        return out


def on_ray(paths: list[str], step: Step, ray: RayOptions, desc: str, quiet: bool) -> list[tuple]:
    """``step``'s results for ``paths`` on Ray Data (a progress bar on this side)."""
    from tqdm.auto import tqdm

    results: list[tuple] = []
    with tqdm(total=len(paths), desc=desc, unit="video", disable=True if quiet else None, dynamic_ncols=True) as bar:

        def collect(batch: dict) -> None:
            done = unpack(batch)
            results.extend(done)
            bar.update(len(done))

        run_pipeline(pack(paths), [step], ray, RAY_BATCH, collect)
    return results


def precompute_frames(inputs: list[str], profile: dict, cache_dir: str, *, media_root: str | None = None,
                      workers: int = 1, quiet: bool = True, ray: RayOptions | None = None
                      ) -> tuple[list[str], dict[str, str]]:
    """Decode every media file once into ``cache_dir``; returns (all media paths, ``{path: error}``).
    ``workers`` processes here, or the actors of ``ray``."""
    media = sorted({it.media for it in iter_items(inputs, media_root) if it.media})
    if ray is not None:
        step = Step(FrameWorker, {"profile": profile, "cache_dir": cache_dir})
        return media, {path: err for path, err in on_ray(media, step, ray, "frame cache (ray)", quiet) if err}
    tasks = [(m, profile, 1, True) for m in media]
    errors = {path: err for path, err, _ in run_parallel(check_media, tasks, workers, "frame cache", quiet,
                                                         initargs=(cache_dir, FRAME_CACHE_MB)) if err}
    return media, errors


def precompute_embeddings(media: list[str], profile: dict, frame_cache_dir: str, emb_dir: str, *, encoder: str,
                          backend: str = "auto", device: str = "auto", quiet: bool = True,
                          on_error: Callable[[str, str], None] | None = None, ray: RayOptions | None = None
                          ) -> dict[str, int]:
    """Fill the semantic reward's frame-embedding disk cache. Returns ``{"encoded", "cached", "failed"}``
    counts. Here: one encoder in this process (the frame workers only decoded). With ``ray``: one
    encoder per actor, an actor per GPU (on CPUs when ``device`` is ``cpu`` or the cluster has no GPU)."""
    from verl_videorft.rewards.semantic import SemanticConfig, precompute_frame_embeddings
    from verl_videorft.video import configure_frame_cache

    config = SemanticConfig(encoder=encoder, backend=backend, device=device, embedding_cache_dir=emb_dir)
    report = on_error or (lambda path, reason: None)
    if ray is not None:
        step = Step(EmbeddingWorker, {"profile": profile, "frame_cache_dir": frame_cache_dir, "config": config},
                    model=device != "cpu")
        counts = {"encoded": 0, "cached": 0, "failed": 0}
        for path, status, err in on_ray(media, step, ray, "frame embeddings (ray)", quiet):
            counts[status] += 1
            if err:
                report(path, err)
        return counts
    configure_frame_cache(disk_dir=frame_cache_dir)  # frames come from the cache filled first
    return precompute_frame_embeddings(progress(media, desc="frame embeddings", unit="video", quiet=quiet),
                                       config, profile, on_error=report)


def expand_dir(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))
