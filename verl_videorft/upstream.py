"""Work-arounds for upstream bugs that break training, each with its upstream report in ``docs/``.

**Equal-length rows crash update_actor** (``docs/upstream-verl-equal-length-position-ids.md``).
Qwen2-/2.5-VL rows carry ``position_ids`` of shape ``(4, seq_len)`` (text + 3 M-RoPE axes). The
workers receive a batch as a jagged nested tensor built by ``torch.nested.as_nested_tensor`` (in
TransferQueue's ``SimpleStorageManager._pack_field_values``). When every row of a rank has the same
``seq_len`` no dimension is ragged, and torch then puts the ragged dimension next to the batch
dimension (``torch/nested/_internal/nested_tensor.py``, ``jagged_from_list``: "allow for a
rectangular NJT and default the ragged dim next to the batch dim"): ``values`` is ``[4·B, seq_len]``
with offsets ``0, 4, 8, …``. verl 0.9.1's ``maybe_fix_3d_position_ids``
(``verl/utils/tensordict_utils.py`` line 910) then sets ``_ragged_idx = 2`` without re-laying the
values, so the next ``unbind`` splits ``seq_len`` by ``[4, 4, 4, 4]``:
``split_with_sizes expects split_sizes to sum exactly to 286 ... got [4, 4, 4, 4]``. That happens
whenever a rank's rows are all one length: a prompt repeated in a batch (its rollouts all reach
``max_response_length``), or two prompts of one token length.

:func:`fix_3d_position_ids` is verl's function made correct for that case (it rebuilds the rows
along ``seq_len``); :func:`install_position_ids_fix` puts it in place of verl's, once per process
(``plugin.py`` hooks it to the import of ``verl.utils.tensordict_utils``).

    >>> import torch
    >>> from tensordict import TensorDict
    >>> rows = [torch.arange(24).view(4, 6) for _ in range(3)]          # three rows, one length
    >>> td = TensorDict({"position_ids": torch.nested.as_nested_tensor(rows, layout=torch.jagged)}, [3])
    >>> fix_3d_position_ids(td)
    >>> [tuple(t.shape) for t in td["position_ids"].unbind()]
    [(4, 6), (4, 6), (4, 6)]

**Mixed image/video micro-batches desynchronise FSDP ranks** (``docs/upstream-verl-visual-calls.md``).
verl's ``_get_input_embeds`` (``verl/models/transformers/qwen2_vl.py`` line 342, ``qwen3_vl.py``
line 205) runs the vision tower once for the images, once more for the videos, and once on a dummy
input when a micro-batch has neither. So a micro-batch holding both images and videos runs it twice,
any other once. Under FSDP each run all-gathers every vision block's parameters, so when one rank's
micro-batch is mixed and its peer's is not, the peer's next all-gather (a decoder layer's shard)
meets the mixed rank's second vision all-gather: gloo aborts with ``op.preamble.length <= op.nbytes``
(NCCL would hang or read the wrong bytes). Which rows a rank gets depends on seqlen balancing and
the mini-batch shuffle, so a batch mixing an image prompt and a video prompt fails only sometimes.
:func:`balanced_input_embeds` wraps verl's function so that every forward runs the tower
:data:`VISUAL_CALLS` times (a dummy run, weighted 0, for each kind a micro-batch lacks) when
``torch.distributed`` has more than one rank; :func:`install_visual_calls_fix` puts it in place.
"""

from __future__ import annotations

import sys
from typing import Any

import torch

# modules of verl 0.9.1 that bind ``maybe_fix_3d_position_ids`` by name (``from ... import``)
_VERL_CALLERS = ("verl.utils.tensordict_utils", "verl.workers.engine_workers", "verl.workers.engine.base",
                 "verl.workers.engine_workers_tinker")
_FIX_NAME = "maybe_fix_3d_position_ids"


def seq_ragged_position_ids(pos: torch.Tensor) -> torch.Tensor:
    """``pos`` (a 3-D jagged nested tensor of ``(rope_dim, seq_len)`` rows) laid out ragged along ``seq_len``.

    Three layouts arrive: already ragged along ``seq_len`` (``_ragged_idx == 2``: unchanged); a
    rectangular batch that torch made ragged along the rope axis (``values`` is
    ``[rows·rope_dim, seq_len]``: rebuilt); the tensordict pickling case verl's own fix is for
    (values along ``seq_len`` but the tag lost: re-tagged, as verl does).
    """
    if getattr(pos, "_ragged_idx", 1) == 2:
        return pos
    values, offsets = pos.values(), pos.offsets()
    lengths = offsets.diff()
    rope_axis = values.dim() == 2 and values.shape[0] == int(offsets[-1]) and bool((lengths == lengths[0]).all())
    if not rope_axis:
        pos._ragged_idx = 2  # what verl's function does
        return pos
    from verl.utils.tensordict_utils import nested_tensor_from_tensor_list

    rows = list(values.split(lengths.tolist(), dim=0))  # each (rope_dim, seq_len)
    return nested_tensor_from_tensor_list(rows, ragged_idx=2)


def fix_3d_position_ids(data: Any) -> None:
    """Drop-in for verl's ``maybe_fix_3d_position_ids(data)``: correct for rectangular batches too."""
    if "position_ids" not in data.keys():
        return
    pos = data["position_ids"]
    if isinstance(pos, torch.Tensor) and pos.is_nested and pos.dim() == 3:
        fixed = seq_ragged_position_ids(pos)
        if fixed is not pos:
            data["position_ids"] = fixed


def install_position_ids_fix() -> None:
    """Replace verl's ``maybe_fix_3d_position_ids`` in every verl module that holds it. Idempotent.

    ``verl.utils.tensordict_utils`` is imported by ``import verl`` before plugins load, so the
    hook runs before the worker modules copy the name; the modules already imported are patched too.
    """
    for name in _VERL_CALLERS:
        module = sys.modules.get(name)
        if module is not None and getattr(module, _FIX_NAME, None) is not None:
            setattr(module, _FIX_NAME, fix_3d_position_ids)


# ---- one vision-tower run count per forward --------------------------------------------------------

# verl 0.9.1 modules whose patched model forward looks up ``_get_input_embeds`` as a module global
VISUAL_EMBED_MODULES = ("verl.models.transformers.qwen2_vl", "verl.models.transformers.qwen3_vl")
_EMBED_NAME = "_get_input_embeds"
# verl's function runs the tower once per kind present (images, videos), or once on a dummy: at most 2
VISUAL_CALLS = 2


def output_tensors(output: Any) -> list[torch.Tensor]:
    """Every tensor in a vision tower's output (a tensor, a tuple/list, or a transformers output object)."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, dict):  # transformers ModelOutput is a dict
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in output_tensors(item)]
    return []


def dummy_visual_term(model: Any, like: torch.Tensor) -> torch.Tensor:
    """A zero-weighted scalar from one vision-tower run on a blank 4 x 4-patch image (verl's own dummy
    input for a text-only micro-batch), so the run's gradients exist and its FSDP collectives happen."""
    config = model.config.vision_config
    in_channels = getattr(config, "in_channels", None) or config.in_chans
    patch_dim = in_channels * config.temporal_patch_size * config.patch_size**2
    pixels = torch.zeros((16, patch_dim), dtype=model.visual.dtype, device=like.device)
    grid = torch.tensor([[1, 4, 4]], dtype=torch.long, device=like.device)
    parts = output_tensors(model.visual(pixels, grid_thw=grid))
    return sum((0.0 * t.float().mean() for t in parts), torch.zeros((), device=like.device)).to(like.dtype)


def distributed_ranks() -> int:
    """How many ranks ``torch.distributed`` has (1 when it is not initialised)."""
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def balanced_input_embeds(original: Any) -> Any:
    """verl's ``_get_input_embeds`` with the vision tower run :data:`VISUAL_CALLS` times on every forward."""

    def get_input_embeds(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                         pixel_values: torch.Tensor | None = None, pixel_values_videos: torch.Tensor | None = None,
                         image_grid_thw: torch.Tensor | None = None, video_grid_thw: torch.Tensor | None = None):
        out = original(model, input_ids, attention_mask, pixel_values, pixel_values_videos, image_grid_thw,
                       video_grid_thw)
        runs = max(1, (pixel_values is not None) + (pixel_values_videos is not None))  # verl's own runs
        if runs >= VISUAL_CALLS or distributed_ranks() == 1:  # nothing to pair up with
            return out
        embeds = out["inputs_embeds"] if isinstance(out, dict) else out[0]
        for _ in range(VISUAL_CALLS - runs):
            embeds = embeds + dummy_visual_term(model, embeds)
        if isinstance(out, dict):  # qwen3_vl returns a dict, qwen2_vl a tuple
            return {**out, "inputs_embeds": embeds}
        return (embeds, *out[1:])

    get_input_embeds.videorft_original = original  # marks the wrapper (idempotent install) and keeps verl's
    return get_input_embeds


def install_visual_calls_fix() -> None:
    """Wrap ``_get_input_embeds`` in every imported module of :data:`VISUAL_EMBED_MODULES`. Idempotent.

    verl's forwards look the name up at call time, so replacing the module attribute is enough.
    """
    for name in VISUAL_EMBED_MODULES:
        module = sys.modules.get(name)
        current = getattr(module, _EMBED_NAME, None) if module is not None else None
        if current is not None and not hasattr(current, "videorft_original"):
            setattr(module, _EMBED_NAME, balanced_input_embeds(current))


__all__ = ["VISUAL_CALLS", "VISUAL_EMBED_MODULES", "balanced_input_embeds", "distributed_ranks", "dummy_visual_term",
           "fix_3d_position_ids", "install_position_ids_fix", "install_visual_calls_fix", "output_tensors",
           "seq_ragged_position_ids"]
