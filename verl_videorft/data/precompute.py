"""``videorft data precompute``: fill the on-disk frame cache, and the semantic reward's frame
embeddings, before training (so step 1 does not pay for decoding and encoding every video).

    >>> precompute_frames(["train.jsonl"], resolve_profile("train").to_dict(), "/cache/frames")  # doctest: +SKIP
    (1200, {'/data/v/bad.mp4': 'corrupt ...'})
"""

from __future__ import annotations

import os
from collections.abc import Callable

from verl_videorft.data.items import iter_items, progress
from verl_videorft.data.media_check import check_media, run_parallel

FRAME_CACHE_MB = 64  # memory tier per worker: the disk tier is what precompute fills


def precompute_frames(inputs: list[str], profile: dict, cache_dir: str, *, media_root: str | None = None,
                      workers: int = 1, quiet: bool = True) -> tuple[list[str], dict[str, str]]:
    """Decode every media file once into ``cache_dir``; returns (all media paths, ``{path: error}``)."""
    media = sorted({it.media for it in iter_items(inputs, media_root) if it.media})
    tasks = [(m, profile, 1, True) for m in media]
    errors = {path: err for path, err, _ in run_parallel(check_media, tasks, workers, "frame cache", quiet,
                                                         initargs=(cache_dir, FRAME_CACHE_MB)) if err}
    return media, errors


def precompute_embeddings(media: list[str], profile: dict, frame_cache_dir: str, emb_dir: str, *, encoder: str,
                          backend: str = "auto", device: str = "auto", quiet: bool = True,
                          on_error: Callable[[str, str], None] | None = None) -> dict[str, int]:
    """Fill the semantic reward's frame-embedding disk cache (one encoder, in this process: the
    workers only decode). Returns ``{"encoded", "cached", "failed"}`` counts."""
    from verl_videorft.rewards.semantic import SemanticConfig, precompute_frame_embeddings
    from verl_videorft.video import configure_frame_cache

    configure_frame_cache(disk_dir=frame_cache_dir)  # frames come from the cache filled first
    config = SemanticConfig(encoder=encoder, backend=backend, device=device, embedding_cache_dir=emb_dir)
    return precompute_frame_embeddings(progress(media, desc="frame embeddings", unit="video", quiet=quiet),
                                       config, profile, on_error=on_error or (lambda path, reason: None))


def expand_dir(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))
