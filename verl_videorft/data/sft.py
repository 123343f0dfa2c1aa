"""SFT data: CoT records (``process`` + ``solution``) → multimodal parquet for verl's ``sft_trainer``.

verl 0.9.1's SFT trainer reads parquet through ``MultiTurnSFTDataset``: a ``messages`` column (chat
turns; ``<video>`` / ``<image>`` placeholders in the text) plus ``videos`` / ``images`` columns
holding one dict per placeholder. Each record becomes::

    system:    sft_system_prompt(style)                     (VideoRFT: the R1 prompt)
    user:      "<video>" + build_question(record, style)   (vision first, as in RL)
    assistant: process + "\\n" + solution                   (trained on)

``style`` is ``data.videorft.prompt_style`` (``videorft`` default: the problem alone, as VideoRFT's
``sft_video.py``; ``video_r1``: options appended and Video-R1's "You are a helpful assistant").

Loss (``data.videorft.sft_loss``): ``assistant`` (default) is verl's: the assistant turn only.
``all`` is the released ``sft_video.py``: every token except padding and ``<|image_pad|>`` (system,
user text and ``<|video_pad|>`` tokens included), set on verl's ``loss_mask`` in
:class:`VideoRFTSFTDataset` (verl's SFT loss reads only that mask; nothing of verl is patched).

and the video dict carries the frame profile (``nframes``, ``min_pixels``, ``max_pixels``), so
:class:`VideoRFTSFTDataset` (``data.custom_cls``) decodes exactly the frames RL training sees
through :func:`verl_videorft.video.sample_frames`.

    >>> convert_sft("cot.jsonl", "sft.parquet", profile="train")     # doctest: +SKIP
    PosixPath('sft.parquet')

    torchrun --standalone --nproc_per_node=N -m verl.trainer.sft_trainer \\
        data.train_files=sft.parquet data.custom_cls.path=pkg://verl_videorft.data.sft \\
        data.custom_cls.name=VideoRFTSFTDataset model.path=Qwen/Qwen2.5-VL-7B-Instruct ...
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from verl_videorft.prompts import DEFAULT_PROMPT_STYLE, RecordError, build_question, sft_system_prompt

logger = logging.getLogger(__name__)

try:  # verl is a dependency; import lazily-safe so `convert_sft` works in light environments too
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset
except ImportError:  # pragma: no cover
    MultiTurnSFTDataset = object  # type: ignore[assignment,misc]


def sft_messages(record: dict[str, Any], prompt_style: str = DEFAULT_PROMPT_STYLE) -> list[dict[str, str]]:
    """The three chat turns of one CoT record (raises :class:`RecordError` naming the field).

    >>> m = sft_messages({"problem": "How many?", "problem_type": "numerical", "data_type": "video",
    ...                   "process": "<think>two</think>", "solution": "<answer>2</answer>"})
    >>> [t["role"] for t in m], m[1]["content"][:16], m[2]["content"]
    (['system', 'user', 'assistant'], '<video>How many?', '<think>two</think>\\n<answer>2</answer>')
    """
    for key in ("process", "solution"):
        if not isinstance(record.get(key), str):
            raise RecordError(f"missing or non-string field {key!r} (SFT needs a CoT record)")
    tag = "<image>" if record.get("data_type", "video") == "image" else "<video>"
    return [{"role": "system", "content": sft_system_prompt(prompt_style)},
            {"role": "user", "content": tag + build_question(record, prompt_style)},
            {"role": "assistant", "content": record["process"] + "\n" + record["solution"]}]


def convert_sft(inputs: str | Path | list, output: str | Path, *, media_root: str | None = None,
                profile: Any = "train", quiet: bool = True, prompt_style: str = DEFAULT_PROMPT_STYLE,
                workers: int = 1) -> Path:
    """Write the SFT parquet (``messages``, ``videos``, ``images``, ``data_source``, ``problem_id``).

    Records without ``process`` / ``solution``, with unknown problem types, failing the checks of
    :func:`~verl_videorft.data.items.check_strict` (a literal ``<video>`` in the text, an untagged
    solution, a video declared as an image) or media that does not decode with ``profile``
    (``workers`` processes) are skipped and printed to stderr as ``file:line: reason``. Media paths
    are stored absolute; ``output`` appears only once complete.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from verl_videorft.data.items import iter_items, progress
    from verl_videorft.data.media_check import decode_errors
    from verl_videorft.data.outputs import atomic_output
    from verl_videorft.video import resolve_profile

    prof = resolve_profile(profile)
    files = [str(p) for p in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
    # "video" / "image" keys: verl's stock MultiTurnSFTDataset (qwen_vl_utils) reads the same columns
    video_t = pa.struct([("video", pa.string()), ("nframes", pa.int64()), ("min_pixels", pa.int64()),
                         ("max_pixels", pa.int64())])
    image_t = pa.struct([("image", pa.string()), ("min_pixels", pa.int64()), ("max_pixels", pa.int64())])
    msg_t = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    schema = pa.schema([("messages", msg_t), ("videos", pa.list_(video_t)), ("images", pa.list_(image_t)),
                        ("data_source", pa.string()), ("problem_id", pa.string())])
    rows, bad = [], 0
    items = list(iter_items(files, media_root, strict=True))
    undecodable = decode_errors([it.media for it in items if not it.error], prof.to_dict(), workers=workers,
                                quiet=quiet)
    for item in progress(items, desc="sft records", unit="rec", quiet=quiet):
        try:
            if item.error:
                raise RecordError(item.error)
            if cause := undecodable.get(item.media):
                raise RecordError(f"{cause}: {item.media}")
            messages = sft_messages(item.record, prompt_style)
        except RecordError as e:
            bad += 1
            print(f"{item.where}: {e} (skipped)", file=sys.stderr)
            continue
        pixels = {"min_pixels": prof.min_pixels, "max_pixels": prof.max_pixels}
        is_image = item.record.get("data_type", "video") == "image"
        rows.append({"messages": messages,
                     "videos": [] if is_image else [{"video": item.media, "nframes": prof.nframes, **pixels}],
                     "images": [{"image": item.media, **pixels}] if is_image else [],
                     "data_source": item.record.get("data_source"),
                     "problem_id": str(item.record.get("problem_id"))})
    if not rows:
        raise RecordError(f"no usable SFT records in {files} ({bad} skipped)")
    output = Path(output)
    with atomic_output(output) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp)
    return output


class VideoRFTSFTDataset(MultiTurnSFTDataset):
    """verl's ``MultiTurnSFTDataset`` with vision decoded by :func:`verl_videorft.video.sample_frames`.

    Same parquet as the stock class (written by :func:`convert_sft`); the difference is that frames
    are the RL profile's frames (uniform indices, short clips allowed, frame cache) and that the
    processor gets their real metadata, so SFT and RL see the same temporal positions
    (``second_per_grid_ts``) for a given ``pass_fps`` setting. Use with
    ``data.custom_cls.path=pkg://verl_videorft.data.sft data.custom_cls.name=VideoRFTSFTDataset``.

    A sample whose video or image fails to decode keeps its place in the batch (black placeholder
    frames) but gets an all-zero loss mask, so the model is never trained to answer without
    looking; it is logged and counted in ``verl_videorft.data.skips.BAD_SAMPLES["sft_decode_error"]``.
    """

    def __init__(self, parquet_files, tokenizer, config, processor=None, max_samples: int = -1):
        from verl_videorft.config import data_config

        self.sft_loss = data_config(config).sft_loss  # before verl's init, so a bad key fails first
        super().__init__(parquet_files=parquet_files, tokenizer=tokenizer, config=config, processor=processor,
                         max_samples=max_samples)
        # verl's sft_trainer config says `enable_thinking_default: none`, which YAML reads as the string
        # "none" (truthy), so verl would template every turn with enable_thinking=True; transformers'
        # apply_chat_template then ignores `processor_kwargs` (our do_resize=False) and the processor
        # resizes the profile's frames (56 x 56 became 336 x 336: RL and eval saw other frames).
        if isinstance(self.enable_thinking_default, str) and self.enable_thinking_default.lower() in ("none", "null"):
            self.enable_thinking_default = None

    def __getitem__(self, item):
        self._decode_errors: list[str] = []
        row = super().__getitem__(item)
        if self.sft_loss == "all":
            token = getattr(self.processor, "image_token", None)
            pad_id = None if token is None else self.tokenizer.convert_tokens_to_ids(token)
            row["loss_mask"] = whole_sequence_mask(row, pad_id)
        if self._decode_errors:
            from verl_videorft.data.skips import BAD_SAMPLES

            BAD_SAMPLES["sft_decode_error"] += 1
            logger.warning("videorft sft: sample %s trains on nothing (loss masked): %s", item,
                           "; ".join(self._decode_errors))
            row["loss_mask"] = row["loss_mask"] * 0
        return row

    def _build_messages(self, example: dict):
        import re

        from verl.utils.py_functional import convert_nested_value_to_list_recursive

        from verl_videorft.data.vision import load_vision, vision_item
        from verl_videorft.video import resolve_profile

        messages = convert_nested_value_to_list_recursive(example[self.messages_key])
        media = {"<video>": list(example.get(self.video_key) or []), "<image>": list(example.get(self.image_key) or [])}
        base_kwargs = getattr(self, "_base_template_kwargs", None)
        if base_kwargs is None:
            base_kwargs = self._base_template_kwargs = dict(self.apply_chat_template_kwargs)
        metadata = []
        for message in messages:
            if not isinstance(message["content"], str):
                continue
            parts = [p for p in re.split("(<video>|<image>)", message["content"]) if p]
            content = []
            for part in parts:
                if part not in media:
                    content.append({"type": "text", "text": part})
                    continue
                kind = "video" if part == "<video>" else "image"
                spec = dict(media[part].pop(0))
                profile = resolve_profile({"base": "train", **{k: spec[k] for k in ("nframes", "min_pixels",
                                                                                   "max_pixels") if spec.get(k)}})
                images, videos, errors = load_vision([{"content": [vision_item(kind, spec[kind], profile)]}])
                getattr(self, "_decode_errors", []).extend(errors)
                if kind == "image":
                    content.append({"type": "image", "image": images[0]})
                else:
                    content.append({"type": "video", "video": videos[0][0]})
                    metadata.append(videos[0][1])
            message["content"] = content
        # Frames are already sampled and sized: the processor must neither resample nor resize, and
        # needs their metadata for second_per_grid_ts. Set per sample (each loader worker owns its copy).
        self.apply_chat_template_kwargs = dict(base_kwargs)
        if metadata:
            self.apply_chat_template_kwargs["processor_kwargs"] = {"video_metadata": metadata,
                                                                  "do_sample_frames": False,
                                                                  "do_resize": False}
        return messages


def whole_sequence_mask(row: dict, image_pad_id: int | None) -> Any:
    """The released SFT loss positions: every real token but ``<|image_pad|>`` (video pads stay in).

    ``row`` is a verl SFT sample: with right padding its ``attention_mask`` marks the real tokens;
    without padding every token is real.

    >>> import torch
    >>> row = {"input_ids": torch.tensor([5, 9, 9, 7, 0]), "loss_mask": torch.tensor([0, 0, 0, 1, 0]),
    ...        "attention_mask": torch.tensor([1, 1, 1, 1, 0])}
    >>> whole_sequence_mask(row, image_pad_id=9).tolist()
    [1, 0, 0, 1, 0]
    """
    ids = row["input_ids"]
    mask = row["attention_mask"].clone() if "attention_mask" in row else ids.new_ones(ids.shape)
    if image_pad_id is not None:
        mask[ids == image_pad_id] = 0
    return mask.to(row["loss_mask"].dtype)
