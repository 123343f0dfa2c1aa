"""``videorft data validate``: every record and its media, checked as training will use them.

    >>> report = validate_files(["train.jsonl"], "train", workers=4)   # doctest: +SKIP
    >>> report.problems[0]                                             # doctest: +SKIP
    {'where': '/data/train.jsonl:7', 'media': '/data/v/7.mp4', 'reason': 'corrupt ...'}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from verl_videorft.data.items import Item, iter_items, progress
from verl_videorft.data.media_check import decode_errors
from verl_videorft.prompts import DEFAULT_PROMPT_STYLE, options_visible
from verl_videorft.video.media import check_media


@dataclass
class ValidationReport:
    records: int = 0
    media: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)  # usable records the model may misread


def options_warning(item: Item, prompt_style: str) -> dict[str, Any] | None:
    """A warning when a multiple-choice record's options are not in its prompt under ``prompt_style``.

    With ``videorft`` (VideoRFT's training prompt is ``problem`` alone) the model sees the options
    only when ``problem`` already holds them.
    """
    if options_visible(item.record, prompt_style):
        return None
    return {"where": item.where, "reason": f"options not in the prompt under prompt_style {prompt_style!r} "
                                          "(the problem does not hold them; video_r1 appends them)"}


def where_key(problem: dict) -> tuple[str, int]:
    """Sort ``file:line`` / ``file row N`` by file, then numerically by line.

    >>> sorted([{"where": "a:10"}, {"where": "a:9"}], key=where_key)[0]
    {'where': 'a:9'}
    """
    where = problem["where"]
    head, _, num = where.rpartition(":") if " row " not in where else where.rpartition(" row ")
    return (head, int(num)) if num.isdigit() else (where, 0)


def validate_files(inputs: list[str], profile: dict, *, media_root: str | None = None, min_frames: int = 2,
                   decode: bool = True, workers: int = 1, quiet: bool = True,
                   prompt_style: str = DEFAULT_PROMPT_STYLE) -> ValidationReport:
    """Check every record of ``inputs`` and decode each media file once with ``profile``.

    ``report.warnings`` lists multiple-choice records whose options the prompt would not show.
    """
    report = ValidationReport()
    by_media: dict[str, list[Item]] = {}
    # strict: also untagged solutions, literal <video>/<image> in the text, data_type vs the media's kind
    for item in progress(iter_items(inputs, media_root, strict=True), desc="read records", unit="rec", quiet=quiet):
        report.records += 1
        if item.error:
            report.problems.append({"where": item.where, "reason": item.error})
        else:
            by_media.setdefault(item.media, []).append(item)
            if (warning := options_warning(item, prompt_style)) is not None:
                report.warnings.append(warning)
    report.media = len(by_media)
    if decode:
        errors = decode_errors(by_media, profile, min_frames=min_frames, workers=workers, quiet=quiet)
    else:
        errors = {path: err for path in by_media if (err := check_media(path))}
    for path, err in errors.items():
        report.problems.extend({"where": it.where, "media": path, "reason": err} for it in by_media[path])
    report.problems.sort(key=where_key)
    return report
