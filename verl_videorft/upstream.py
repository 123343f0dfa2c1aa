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


__all__ = ["fix_3d_position_ids", "install_position_ids_fix", "seq_ragged_position_ids"]
