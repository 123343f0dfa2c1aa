"""Work-around for verl's ``maybe_fix_3d_position_ids`` on equal-length rows.

Contract: verl 0.9.1 ``verl/utils/tensordict_utils.py`` line 910 (``maybe_fix_3d_position_ids``) and
line 495 (``index_select_tensor_dict`` unbinds nested tensors); TransferQueue 0.1.11
``simple_storage_manager.py`` line 574 packs rows with ``torch.nested.as_nested_tensor``.
See docs/upstream-verl-equal-length-position-ids.md.
"""

from __future__ import annotations

from typing import Any

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


# ---- vision-tower runs per forward (docs/upstream-verl-visual-calls.md) -------------------------------
# Contract: verl 0.9.1 verl/models/transformers/qwen2_vl.py line 342 and qwen3_vl.py line 205
# (``_get_input_embeds``: one tower run per kind present, one dummy run when neither).

class _Tower(torch.nn.Module):
    """A vision tower that counts its runs: one feature per 2 x 2 merged patch group (as Qwen3-VL's,
    with a deepstack feature list)."""

    dtype = torch.float32

    def __init__(self, deepstack: bool) -> None:
        super().__init__()
        self.runs, self.deepstack = 0, deepstack
        self.proj = torch.nn.Linear(1, 8)

    def forward(self, pixels: torch.Tensor, grid_thw: torch.Tensor) -> Any:
        self.runs += 1
        features = self.proj(torch.ones(int(grid_thw.prod(-1).sum()) // 4, 1))
        return (features, [features]) if self.deepstack else features


class _Model(torch.nn.Module):
    IMAGE, VIDEO = 5, 6

    def __init__(self, module_name: str) -> None:
        super().__init__()
        from types import SimpleNamespace

        vision = SimpleNamespace(in_channels=3, temporal_patch_size=2, patch_size=14)
        self.config = SimpleNamespace(image_token_id=self.IMAGE, video_token_id=self.VIDEO, vision_config=vision)
        self.visual = _Tower(deepstack="qwen3" in module_name)
        self.embed = torch.nn.Embedding(10, 8)

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.embed


def _visual_runs(module_name: str, get_input_embeds, kinds: str) -> int:
    """How many times ``get_input_embeds`` runs the tower on a micro-batch holding ``kinds``."""
    model = _Model(module_name)
    ids, kw = [1, 2], {}
    grid = torch.tensor([[1, 4, 4]])  # 16 patches -> 4 tokens
    if "image" in kinds:
        ids += [model.IMAGE] * 4
        kw.update(pixel_values=torch.zeros(16, 588), image_grid_thw=grid)
    if "video" in kinds:
        ids += [model.VIDEO] * 4
        kw.update(pixel_values_videos=torch.zeros(16, 588), video_grid_thw=grid)
    get_input_embeds(model, torch.tensor([ids]), **kw)
    return model.visual.runs


def _verl_embeds(module_name: str):
    import importlib

    current = importlib.import_module(module_name)._get_input_embeds
    return getattr(current, "videorft_original", current)


@pytest.mark.parametrize("module_name", upstream.VISUAL_EMBED_MODULES)
def test_verl_runs_the_tower_more_often_on_mixed_micro_batches(module_name):
    """The bug (shows the test below can fail): mixed micro-batches run the tower twice, others once."""
    verl = _verl_embeds(module_name)
    runs = {kinds: _visual_runs(module_name, verl, kinds) for kinds in ("text", "image", "video", "image+video")}
    assert runs == {"text": 1, "image": 1, "video": 1, "image+video": 2}


@pytest.mark.parametrize("module_name", upstream.VISUAL_EMBED_MODULES)
@pytest.mark.parametrize("kinds", ["text", "image", "video", "image+video"])
def test_every_micro_batch_runs_the_tower_equally_often_on_several_ranks(monkeypatch, module_name, kinds):
    monkeypatch.setattr(upstream, "distributed_ranks", lambda: 2)
    fixed = upstream.balanced_input_embeds(_verl_embeds(module_name))
    assert _visual_runs(module_name, fixed, kinds) == upstream.VISUAL_CALLS


def test_one_rank_keeps_verl_runs():
    module_name = upstream.VISUAL_EMBED_MODULES[0]
    assert _visual_runs(module_name, upstream.balanced_input_embeds(_verl_embeds(module_name)), "text") == 1


def test_dummy_runs_leave_embeddings_unchanged_and_reach_the_tower_in_backward(monkeypatch):
    monkeypatch.setattr(upstream, "distributed_ranks", lambda: 2)
    module_name = upstream.VISUAL_EMBED_MODULES[0]
    original = _verl_embeds(module_name)
    model, ids = _Model(module_name), torch.tensor([[1, 2, 3]])
    want, _ = original(model, ids)
    got, _ = upstream.balanced_input_embeds(original)(model, ids)
    assert torch.equal(got, want)
    got.sum().backward()
    assert model.visual.proj.weight.grad is not None


@pytest.mark.parametrize("module_name", upstream.VISUAL_EMBED_MODULES)
def test_plugin_wraps_verl_input_embeds(module_name):
    import importlib

    import verl_videorft.plugin  # noqa: F401  (the hook runs on import)

    fn = importlib.import_module(module_name)._get_input_embeds
    assert hasattr(fn, "videorft_original")
    upstream.install_visual_calls_fix()  # idempotent: not wrapped twice
    assert not hasattr(importlib.import_module(module_name)._get_input_embeds.videorft_original, "videorft_original")
