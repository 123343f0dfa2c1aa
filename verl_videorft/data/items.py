"""Records as the data tools see them: every record of every file, checked, with its media path.

``videorft data convert | validate | budget | precompute | sft`` all start from :func:`iter_items`.
A record that cannot be used comes back with ``error`` set (the caller reports it as
``file:line: error``) instead of raising, so one bad record never stops a tool.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from verl_videorft.prompts import RecordError

# verl's multimodal SFT dataset splits message text on these, one media entry per occurrence: a
# literal one in a question or an answer pops a media list that is already empty.
VISION_PLACEHOLDERS = ("<video>", "<image>")
TEXT_FIELDS = ("problem", "options", "process", "solution")


def progress(it: Iterable, *, quiet: bool = False, **kw: Any) -> Iterable:
    """``tqdm`` over ``it`` on stderr (only on a terminal), or ``it`` itself when ``quiet``."""
    if quiet:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, disable=None, dynamic_ncols=True, **kw)


@dataclass
class Item:
    """One record: where it is, and either the record or why it is unusable."""

    where: str
    record: dict[str, Any] | None
    media: str | None = None
    error: str | None = None


def check_strict(rec: Mapping[str, Any], media: str) -> None:
    """What ``validate`` and ``sft`` demand beyond a trainable record (raises :class:`RecordError`).

    - no literal ``<video>`` / ``<image>`` in the text fields (they break verl's SFT dataset);
    - the solution holds ``<answer>...</answer>``: the accuracy reward extracts both sides with the
      same function, so an untagged solution makes an answerless completion score 1.0;
    - ``data_type`` agrees with the media file's kind (an mp4 declared ``image`` fails to open).

    >>> check_strict({"problem": "Q", "solution": "A", "data_type": "video"}, "/v/a.mp4")
    Traceback (most recent call last):
    ...
    verl_videorft.prompts.RecordError: solution 'A' has no <answer>...</answer> (...)
    """
    from verl_videorft.rewards.text import extract_answer
    from verl_videorft.video import IMAGE_EXTENSIONS

    for key in TEXT_FIELDS:
        values = rec.get(key)
        for text in values if isinstance(values, list) else [values]:
            for tag in VISION_PLACEHOLDERS:
                if isinstance(text, str) and tag in text:
                    raise RecordError(f"field {key!r} holds a literal {tag} (verl's SFT dataset reads it as a "
                                      "vision placeholder)")
    solution = rec.get("solution")
    if isinstance(solution, str) and not extract_answer(solution):
        raise RecordError(f"solution {solution[:40]!r} has no <answer>...</answer> "
                          "(an answerless completion would score 1.0)")
    data_type = rec.get("data_type", "video")
    is_image = os.path.splitext(media)[1].lower() in IMAGE_EXTENSIONS
    if is_image != (data_type == "image"):
        kind = "an image" if is_image else "a video"
        raise RecordError(f"data_type is {data_type!r} but {os.path.basename(media)} is {kind} (by its extension)")


def iter_items(files: Iterable[str], media_root: str | None = None, *, strict: bool = False) -> Iterator[Item]:
    """Every record of every file, checked (keys, problem type; :func:`check_strict` when ``strict``),
    with its absolute media path. A file that cannot be read at all raises ``RecordFileError``."""
    from verl_videorft.data.record_check import check_record, resolve_media_path
    from verl_videorft.data.records import RecordFile

    for file in files:
        rf = RecordFile(file)
        root = os.path.abspath(media_root) if media_root else os.path.dirname(rf.path)
        for i in range(len(rf)):
            where = rf.where(i)
            try:
                rec = rf[i]
            except RecordError as e:
                yield Item(where, None, error=str(e).removeprefix(where + ": "))
                continue
            try:
                check_record(rec)
                media = resolve_media_path(rec["path"], root)
                if strict:
                    check_strict(rec, media)
            except RecordError as e:
                yield Item(where, rec, error=str(e))
                continue
            yield Item(where, rec, media=media)
