"""Work-around for verl's ``maybe_fix_3d_position_ids`` on equal-length rows.

Contract: verl 0.9.1 ``verl/utils/tensordict_utils.py`` line 910 (``maybe_fix_3d_position_ids``) and
line 495 (``index_select_tensor_dict`` unbinds nested tensors); TransferQueue 0.1.11
``simple_storage_manager.py`` line 574 packs rows with ``torch.nested.as_nested_tensor``.
See docs/upstream-verl-equal-length-position-ids.md.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("verl")
from tensordict import TensorDict  # noqa: E402
from verl.utils import tensordict_utils as tdu  # noqa: E402

from verl_videorft import upstream  # noqa: E402


def _rows(lengths: list[int]) -> list[torch.Tensor]:
    return [torch.arange(4 * n).view(4, n) + 1000 * i for i, n in enumerate(lengths)]


def _packed(rows: list[torch.Tensor]) -> TensorDict:
    """What a training worker receives: TransferQueue's jagged packing of the rows."""
    return TensorDict({"position_ids": torch.nested.as_nested_tensor(rows, layout=torch.jagged)},
                      batch_size=[len(rows)])


def _verl_original():
    """verl's own function, even when the plugin already replaced the module attribute."""
    original = tdu.maybe_fix_3d_position_ids
    if original is upstream.fix_3d_position_ids:
        def original(data):  # verbatim behaviour of verl 0.9.1 line 910-915
            if "position_ids" in data.keys() and data["position_ids"].dim() == 3 and data["position_ids"].is_nested:
                data["position_ids"]._ragged_idx = 2
    return original


def test_verl_fix_breaks_equal_length_rows():
    """The bug (shows the test below can fail): verl's re-tag makes the mini-batch split raise."""
    td = _packed(_rows([40, 40, 40, 40]))
    _verl_original()(td)
    with pytest.raises(RuntimeError, match=r"split_with_sizes .* 40 .*\[4, 4, 4, 4\]"):
        tdu.index_select_tensor_dict(td, [0, 1])


@pytest.mark.parametrize("lengths", [
    [40, 40, 40, 40],   # a repeated prompt: every rollout reaches max_response_length
    [40, 40],           # two prompts of one token length on a rank
    [8, 8],             # square values (8 x 8): rows x rope_dim == seq_len
    [40],               # one row
    [40, 41, 39, 44],   # ordinary ragged rows: unchanged
])
def test_fixed_rows_survive_index_select_and_chunking(lengths):
    rows = _rows(lengths)
    td = _packed(rows)
    upstream.fix_3d_position_ids(td)
    picked = tdu.index_select_tensor_dict(td, list(range(len(rows))))["position_ids"].unbind()
    assert all(torch.equal(a, b) for a, b in zip(picked, rows, strict=True))
    chunks = tdu.chunk_tensordict(td, len(rows))
    assert all(torch.equal(c["position_ids"].unbind()[0], r) for c, r in zip(chunks, rows, strict=True))


def test_pickled_tag_loss_is_retagged_like_verl():
    """verl's original case (values laid along seq_len, tag lost): re-tagged, data untouched."""
    rows = _rows([40, 41])
    nt = tdu.nested_tensor_from_tensor_list(rows, ragged_idx=2)
    nt._ragged_idx = 1
    td = TensorDict({"position_ids": nt}, batch_size=[2])
    upstream.fix_3d_position_ids(td)
    assert td["position_ids"]._ragged_idx == 2
    assert all(torch.equal(a, b) for a, b in zip(td["position_ids"].unbind(), rows, strict=True))


@pytest.mark.parametrize("module", [
    "verl.utils.tensordict_utils",
    "verl.workers.engine_workers",
    "verl.workers.engine.base",
])
def test_plugin_installs_the_fix_in_verl_worker_modules(module):
    import importlib

    import verl_videorft.plugin  # noqa: F401  (the hook runs on import)

    assert importlib.import_module(module).maybe_fix_3d_position_ids is upstream.fix_3d_position_ids
