"""``VideoRFTDataset``: VideoRFT / Video-R1 records → verl samples, lazily, for ``data.custom_cls``.

verl 0.9.1 builds the dataset in the trainer *and* in every agent-loop worker as
``cls(data_files=, tokenizer=, processor=, config=, max_samples=)``. Records stay in their file
(:class:`~verl_videorft.data.records.RecordFile`, a byte-offset index); ``__getitem__`` parses one record
and builds the paper's prompt: one user turn, the vision item first, then
:func:`~verl_videorft.prompts.build_question` text, no system prompt.

The agent-loop worker decodes vision through the dataset class's ``_process_multi_modal_info``
classmethod; here it goes through :func:`verl_videorft.data.vision.load_vision` (shared frame cache),
with the frame profile each sample carries in its vision item.

Config: ``data.videorft``, typed and defaulted once in :class:`verl_videorft.config.DataConfig`
(a misspelt key fails naming it)::

    data:
      custom_cls: {path: pkg://verl_videorft.data, name: VideoRFTDataset}
      videorft: {frame_profile: train, media_root: /data/videos}

    >>> ds = VideoRFTDataset(data_files="train.jsonl", tokenizer=tok, processor=proc,
    ...                      config=OmegaConf.create({"videorft": {"frame_profile": "train"}}))  # doctest: +SKIP
    >>> ds[0]["raw_prompt"][0]["content"][0]["type"]                                              # doctest: +SKIP
    'video'
"""

from __future__ import annotations

import collections
import logging
import os
from typing import Any

import numpy as np
import torch
from verl.utils.dataset.rl_dataset import RLHFDataset

from verl_videorft.config import DataConfig, data_config
from verl_videorft.data.record_check import check_record, resolve_media_path
from verl_videorft.data.records import RecordFile, RecordFileError
from verl_videorft.data.skips import (
    BAD_SAMPLES,
    SKIPPED_KEY,
    SkipError,
    replacement_candidates,
    skip_reason,
    tagged_solution,
)
from verl_videorft.data.vision import SampleDecodeError, configure_cache_from, load_vision, vision_item
from verl_videorft.prompts import RecordError, build_question
from verl_videorft.video.media import check_media

logger = logging.getLogger(__name__)

class MediaError(SkipError):
    """The record's media file is missing (reason ``missing_media``) or unusable (``corrupt_media``)."""


def _register_profiles(vcfg: DataConfig) -> None:
    from verl_videorft.video import register_profile

    for name, spec in vcfg.profiles.items():
        register_profile(name, **spec.given())


class VideoRFTDataset(RLHFDataset):
    """Lazy VideoRFT / Video-R1 dataset (JSON, JSONL, parquet; video and image samples mixed).

    Subclasses verl's ``RLHFDataset`` for its config handling and agent-loop hooks, but never
    materialises records: ``len(ds)`` comes from the offset index and ``ds[i]`` parses one record.
    Bad records, untagged solutions or missing media are logged with file and line, counted by
    reason and replaced by another record (:mod:`verl_videorft.data.skips`), so training never stops
    on bad samples while a usable one exists.
    """

    # ---- construction -------------------------------------------------------------------------
    def _read_files_and_tokenize(self) -> None:
        vcfg = data_config(self.config)
        self.videorft_config = vcfg
        from verl_videorft.video import resolve_profile

        _register_profiles(vcfg)
        profile_spec = vcfg.frame_profile
        val_files = self.config.get("val_files") if hasattr(self.config, "get") else None
        vf = [] if val_files is None else [os.fspath(v) for v in ([val_files] if isinstance(val_files, str)
                                                                  else val_files)]
        # The reward manager reads the split: validation groups have val_kwargs.n members, not n.
        self.split_name = "val" if vf and [os.fspath(f) for f in self.original_data_files] == vf else "train"
        if self.split_name == "val" and vcfg.val_frame_profile is not None:
            profile_spec = vcfg.val_frame_profile
        self.frame_profile = resolve_profile(profile_spec)
        if getattr(self, "processor", None) is not None:  # fail at start-up, not in the first rollout
            from verl_videorft.rollout.video_spans import check_frame_multiple

            check_frame_multiple(self.processor, self.frame_profile, f"data.videorft frame profile {profile_spec!r}")
        self.agent_name = vcfg.agent_name
        self.check_media = vcfg.check_media
        media_root = vcfg.media_root

        self.record_files = [RecordFile(f) for f in self.data_files]
        for rf in self.record_files:  # fail now, not in verl's first step (ZeroDivisionError)
            if len(rf) == 0:
                raise RecordFileError(f"{rf.path}: no records (empty file or empty array)")
        self._known_bad: dict[int, str] = {}  # position -> skip reason, found in this process
        self.media_roots = [os.path.abspath(os.path.expanduser(str(media_root))) if media_root
                            else os.path.dirname(rf.path) for rf in self.record_files]
        self._file_ends = np.cumsum([len(rf) for rf in self.record_files]).astype(np.int64)
        total = int(self._file_ends[-1]) if self._file_ends.size else 0
        # selected global record ids (None = all): an int64 array, never a list of records
        self._selection: np.ndarray | None = None
        if self.max_samples is not None and 0 < self.max_samples < total:
            if self.shuffle:
                rng = np.random.default_rng(*((self.seed,) if self.seed is not None else ()))
                self._selection = np.sort(rng.choice(total, size=self.max_samples, replace=False))
            else:
                self._selection = np.arange(self.max_samples, dtype=np.int64)
        self._total = total
        # RLHFDataset filters overlong prompts by decoding every video at start-up; with 310K
        # videos that is hours. `videorft data budget` lists them offline instead.
        self.dataframe = self.maybe_filter_out_long_prompts(None)

    def maybe_filter_out_long_prompts(self, dataframe=None):
        if self.filter_overlong_prompts:
            logger.info("videorft: overlong prompts are not filtered at start-up (that decodes every video); "
                        "list them with `videorft data budget`")
        return dataframe

    def resume_dataset_state(self) -> None:
        # nothing cached that a checkpoint would need to restore: the index is rebuilt from files
        self.serialize_dataset = False

    def __getstate__(self) -> dict:
        return self.__dict__.copy()

    def __len__(self) -> int:
        return int(self._selection.size) if self._selection is not None else self._total

    # ---- records ------------------------------------------------------------------------------
    def locate(self, item: int) -> tuple[int, int, int]:
        """``(global_id, file_number, index_in_file)`` of dataset position ``item``."""
        gid = int(self._selection[item]) if self._selection is not None else int(item)
        f = int(np.searchsorted(self._file_ends, gid, side="right"))
        local = gid - (int(self._file_ends[f - 1]) if f else 0)
        return gid, f, local

    def record(self, item: int) -> dict[str, Any]:
        """The raw record at dataset position ``item`` (a fresh dict)."""
        _, f, local = self.locate(item)
        return self.record_files[f][local]

    def build_sample(self, item: int) -> dict[str, Any]:
        """The verl row for position ``item``; raises :class:`RecordError` (file:line in the message)."""
        gid, f, local = self.locate(item)
        rf = self.record_files[f]
        rec = rf[local]
        try:
            check_record(rec)
            data_type = rec.get("data_type", "video")
            media_path = resolve_media_path(rec["path"], self.media_roots[f])
            if self.check_media and (cause := check_media(media_path)):
                raise MediaError(f"{cause}: {media_path}",
                                 "corrupt_media" if os.path.lexists(media_path) else "missing_media")
            solution = tagged_solution(rec["solution"], rec["problem_type"], rec.get("options"))
            question = build_question(rec, self.videorft_config.prompt_style)
        except RecordError as e:
            e.args = (f"{rf.where(local)}: {e}",)  # same exception (keeps a skip reason), file:line first
            raise

        raw_prompt = [{"role": "user", "content": [vision_item(data_type, media_path, self.frame_profile),
                                                   {"type": "text", "text": question}]}]
        extra_info = {
            "index": gid,
            "problem_id": rec.get("problem_id", gid),
            "problem_type": rec["problem_type"],
            "data_type": data_type,
            "media_path": media_path,
            "frame_profile": self.frame_profile.to_dict(),
            "question": question,
            "source": rf.where(local),
            "split": self.split_name,
            SKIPPED_KEY: {},
        }
        row: dict[str, Any] = {
            "data_source": rec.get("data_source") or "videorft",
            "raw_prompt": raw_prompt,
            "reward_model": {"style": "rule", "ground_truth": solution},
            "extra_info": extra_info,
            "index": gid,
            "tools_kwargs": {},
            "interaction_kwargs": {},
            # verl still needs one tensor so that DataProto.batch is not empty
            "dummy_tensor": torch.tensor([0], dtype=torch.uint8),
        }
        if self.agent_name:
            row["agent_name"] = self.agent_name
        return row

    def __getitem__(self, item: int) -> dict[str, Any]:
        """The sample at ``item``; a bad record is skipped (logged, counted by reason in the returned
        sample's ``extra_info``) and replaced by a seeded draw among the others (data/skips.py)."""
        item = int(item)
        try:
            return self.build_sample(item)
        except RecordError as e:
            reason = self._mark_bad(item, e)
        for candidate in replacement_candidates(len(self), item, self.seed or 0, self._known_bad):
            try:
                row = self.build_sample(candidate)
            except RecordError as e:
                self._mark_bad(candidate, e, counted=False)  # counted when the sampler reaches it
                continue
            row["extra_info"][SKIPPED_KEY] = {reason: 1}
            return row
        raise RuntimeError(f"videorft: no usable record in {self.data_files}: all {len(self)} were skipped "
                           f"({dict(collections.Counter(self._known_bad.values()))}); "
                           "run `videorft data validate` on them")

    def _mark_bad(self, item: int, err: RecordError, counted: bool = True) -> str:
        reason = skip_reason(err)
        if counted or item not in self._known_bad:
            logger.warning("videorft: skipping sample (%s): %s", reason, err)
        self._known_bad[item] = reason
        if counted:
            BAD_SAMPLES[reason] += 1
        return reason

    def split(self, num_splits: int) -> list[VideoRFTDataset]:
        """``num_splits`` contiguous shards (remainder dropped, as verl does)."""
        if not isinstance(num_splits, int) or num_splits <= 0:
            raise ValueError(f"num_splits must be a positive integer, got {num_splits}")
        ids = self._selection if self._selection is not None else np.arange(self._total, dtype=np.int64)
        size = len(ids) // num_splits
        shards = []
        for k in range(num_splits):
            shard = object.__new__(type(self))
            shard.__dict__.update(self.__dict__)
            shard._selection = ids[k * size:(k + 1) * size]
            shard._known_bad = {}  # positions are the shard's own
            shards.append(shard)
        return shards

    # ---- vision decoding (agent-loop worker) ----------------------------------------------------
    @classmethod
    def _process_multi_modal_info(cls, messages: list[dict], image_patch_size: int, config: Any):
        """verl's decode hook: ``(images | None, videos | None, audios | None)`` from ``raw_prompt``.

        Frames come from :func:`verl_videorft.video.sample_frames` (shared cache). A file that
        cannot be decoded is counted in ``BAD_SAMPLES["decode_error"]`` and then, by
        ``data.videorft.on_decode_error``: ``placeholder`` (default; safe with any agent loop) gives
        black frames of the profile's size; ``raise`` raises :class:`SampleDecodeError`, which the
        ``videorft_agent`` loop catches to score the sample 0 (the recipe sets this).
        """
        configure_cache_from(config)
        images, videos, errors = load_vision(messages)
        if errors and data_config(config).on_decode_error == "raise":
            raise SampleDecodeError("; ".join(errors))
        return images, videos, cls._extract_audio_info(messages)


