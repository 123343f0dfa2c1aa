"""Is a record usable, and where is its media: the one copy, without importing verl.

Training (:mod:`verl_videorft.data.dataset`), the data tools (:mod:`verl_videorft.data.items`),
``videorft cot build`` and ``videorft eval`` all check records and resolve media paths here.
This module imports only :mod:`verl_videorft.prompts`: importing the dataset module imports
verl (about 30 s on 2 cores), which a tool that never trains should not pay.

    >>> check_record({"problem": "Q", "problem_type": "numerical", "solution": "<answer>3</answer>",
    ...               "path": "a.mp4", "data_type": "audio"})
    Traceback (most recent call last):
    ...
    verl_videorft.prompts.RecordError: field 'data_type' is 'audio', expected one of ['video', 'image']
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from verl_videorft.prompts import RecordError, build_question

REQUIRED_KEYS = ("problem", "problem_type", "solution", "path")
DATA_TYPES = ("video", "image")


def resolve_media_path(path: str, root: str | os.PathLike) -> str:
    """Absolute media path: absolute paths stay, relative ones (``./LLaVA-Video-178K/x.mp4``) join ``root``;
    ``file://`` and ``~`` are understood.

    >>> resolve_media_path("./LLaVA-Video-178K/x.mp4", "/data")
    '/data/LLaVA-Video-178K/x.mp4'
    >>> resolve_media_path("file:///v/a.mp4", "/data")
    '/v/a.mp4'
    """
    path = os.path.expanduser(path.removeprefix("file://"))
    if not os.path.isabs(path):
        path = os.path.join(os.fspath(root), path)
    return os.path.normpath(path)


def check_record(rec: Mapping, data_types: Sequence[str] = DATA_TYPES) -> None:
    """Raise :class:`RecordError` naming the field when a record cannot become a sample.

    ``data_types``: the ``data_type`` values the caller can use (evaluation adds MVBench's ``frame``).
    """
    for key in REQUIRED_KEYS:
        if key not in rec or rec[key] is None:
            raise RecordError(f"missing field {key!r}")
        if not isinstance(rec[key], str):
            raise RecordError(f"field {key!r} must be a string, got {type(rec[key]).__name__}")
    data_type = rec.get("data_type", "video")
    if data_type not in data_types:
        raise RecordError(f"field 'data_type' is {data_type!r}, expected one of {list(data_types)}")
    build_question(rec)  # raises on unknown problem_type / bad options
