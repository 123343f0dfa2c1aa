"""Training data: record files, the verl dataset class, vision loading, SFT data, the demo set.

``pkg://verl_videorft.data`` names the dataset class for verl (``data.custom_cls.name=VideoRFTDataset``);
it is resolved lazily so that ``import verl_videorft.data.records`` does not import verl.

- :mod:`.records`   lazy JSON/JSONL/parquet record files, errors naming ``file:line``.
- :mod:`.dataset`   ``VideoRFTDataset`` (``data.custom_cls``) and verl's decode hook.
- :mod:`.vision`    a sample's vision item and its decoding (shared with SFT data).
- :mod:`.sft`       CoT records → SFT data for verl's ``sft_trainer``.
- :mod:`.demo_set`  the synthetic moving-shapes video-reasoning set.
"""

from typing import Any

__all__ = ["VideoRFTDataset"]


def __getattr__(name: str) -> Any:
    if name == "VideoRFTDataset":
        from verl_videorft.data.dataset import VideoRFTDataset

        return VideoRFTDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
