"""Typed settings: ``data.videorft`` (:class:`DataConfig`) and ``reward.videorft`` (:class:`RewardConfig`).

Each block is loaded as an OmegaConf structured config: the dataclass gives the defaults (their
only copy) and the types, the recipe's block is merged over it, and a misspelt key or a wrong type
fails naming the key (``reward.videorft.gate.treshold: Key 'treshold' not in 'GateConfig'``).
The recipe (``recipes/recipe/videorft.yaml``) sets what the paper fixes, quoted there.

    >>> from omegaconf import OmegaConf
    >>> cfg = OmegaConf.create({"reward": {"videorft": {"length_bonus": {"value": 0.3}}}})
    >>> reward_config(cfg).length_bonus.value, reward_config(cfg).semantic.ray_actor.num_gpus
    (0.3, 0.0)
    >>> reward_config(OmegaConf.create({"reward": {"videorft": {"gate": {"treshold": 0}}}}))
    Traceback (most recent call last):
    ...
    verl_videorft.config.ConfigError: reward.videorft.gate.treshold: Key 'treshold' not in 'GateConfig'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from verl_videorft.prompts import PROMPT_STYLES
from verl_videorft.rewards.encoders import DEFAULT_ENCODER
from verl_videorft.rewards.text import AccuracyOptions

# OmegaConf reads these annotations at runtime: keep them to the types it knows
# (Optional[...], not "X | None"; Any for a name-or-dict).
# ruff: noqa: UP045

T = TypeVar("T")

DECODE_ERROR_MODES = ("placeholder", "raise")
SFT_LOSS_SCOPES = ("assistant", "all")
AGGREGATES = ("mean", "per_frame")


class ConfigError(ValueError):
    """A ``data.videorft`` / ``reward.videorft`` setting is unknown or invalid; names the key."""


def to_plain(node: Any) -> Any:
    """An OmegaConf node as plain Python (interpolations resolved); anything else unchanged.

    >>> to_plain(OmegaConf.create({"a": 1, "b": "${a}"}))
    {'a': 1, 'b': 1}
    >>> to_plain({"a": 1})
    {'a': 1}
    """
    if OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=True)
    return node


# -- data.videorft -----------------------------------------------------------------------------------
@dataclass
class ProfileSpec:
    """A named frame profile: ``FrameProfile`` fields, optionally on top of a ``base`` profile."""

    base: Optional[str] = None
    nframes: Optional[int] = None
    min_pixels: Optional[int] = None
    max_pixels: Optional[int] = None
    size_multiple: Optional[int] = None
    pass_fps: Optional[bool] = None
    budget: Optional[str] = None  # "released" (fetch_video's per-frame cap) | "strict" ([min, max] pixels)
    video_total_tokens: Optional[int] = None  # released VIDEO_TOTAL_PIXELS / m²: 128000 * 0.9
    image_min_tokens: Optional[int] = None  # released fetch_image: 4 (× 28·28 pixels)
    image_max_tokens: Optional[int] = None  # released fetch_image: 256 (× 28·28 pixels)

    def given(self) -> dict[str, Any]:
        """The fields set (for ``video.register_profile``); unset ones come from ``base``/defaults."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass
class DataConfig:
    """``data.videorft``: how records become prompts and frames (read by ``VideoRFTDataset``)."""

    media_root: Optional[str] = None  # None: each data file's folder
    frame_profile: Any = "train"  # a profile name or a dict of FrameProfile fields
    val_frame_profile: Any = None  # for data.val_files; None: frame_profile
    profiles: dict[str, ProfileSpec] = field(default_factory=dict)  # extra named profiles
    frame_cache_mb: Optional[float] = None  # None: the frame cache's own size (video.cache)
    frame_cache_dir: Optional[str] = None  # on-disk frame cache shared by processes
    on_decode_error: str = "placeholder"  # or "raise" (the agent loop flags the sample, scores 0)
    agent_name: Optional[str] = None  # per-sample agent loop; None: rollout's default agent loop
    check_media: bool = True  # skip samples whose media file is missing or empty (a stat)
    # How the question is built (verl_videorft.prompts): "videorft" = VideoRFT's grpo.py / sft_video.py,
    # `problem` alone (options reach the model only if `problem` holds them); "video_r1" = Video-R1's,
    # problem + "Options:\n" + one option a line. Also read by `videorft data sft` and `data validate`.
    prompt_style: str = "videorft"
    # SFT loss positions (VideoRFTSFTDataset): "assistant" = verl's (the assistant turn); "all" = the
    # released sft_video.py, every token but padding and <|image_pad|> (video pads stay in the loss).
    sft_loss: str = "assistant"

    def __post_init__(self) -> None:
        if self.on_decode_error not in DECODE_ERROR_MODES:
            raise ConfigError(f"on_decode_error must be one of {DECODE_ERROR_MODES}, "
                              f"got {self.on_decode_error!r}")
        if self.prompt_style not in PROMPT_STYLES:
            raise ConfigError(f"prompt_style must be one of {PROMPT_STYLES}, got {self.prompt_style!r}")
        if self.sft_loss not in SFT_LOSS_SCOPES:
            raise ConfigError(f"sft_loss must be one of {SFT_LOSS_SCOPES}, got {self.sft_loss!r}")


# -- reward.videorft ---------------------------------------------------------------------------------
@dataclass
class WeightsConfig:
    accuracy: float = 1.0
    format: float = 1.0
    semantic: float = 1.0


@dataclass
class GateConfig:
    """The semantic term counts only where accuracy > threshold."""

    enable: bool = True
    threshold: float = 0.0


@dataclass
class LengthBonusConfig:
    """Released trainer: ``+value`` for a response of ``min..max`` tokens when it is right
    (acc > ``acc_threshold``) and more than one rollout of its group is."""

    enable: bool = True
    value: float = 0.2
    min_tokens: int = 320
    max_tokens: int = 512
    acc_threshold: float = 0.1


@dataclass
class TemporalConfig:
    """T-GRPO, Video-R1's temporal contrast (VideoRFT removed it): for each video prompt,
    ``n_shuffled`` extra rollouts on a seeded permutation of the same decoded frames, scored for
    accuracy only and never trained on; when the group's mean ordered accuracy ≥ ``mu`` × its mean
    shuffled accuracy, ``alpha`` is added to the accuracy of each ordered rollout whose accuracy
    exceeds ``acc_threshold`` (:mod:`verl_videorft.rewards.temporal`, :mod:`verl_videorft.rollout.temporal`)."""

    enable: bool = False  # Video-R1's run scripts pass --temporal true; VideoRFT has no such term
    alpha: float = 0.3  # released: "temporal_rewards_per_func[mask, 0] + 0.3"
    mu: float = 0.8  # released: "acc_mean >= 0.8 * shuffled_acc_mean"; Video-R1 paper: 1.0
    n_shuffled: Optional[int] = None  # None: rollout.n // 2 (released: "self.num_generations // 2")
    acc_threshold: float = 0.1  # released: "mask = temporal_rewards_per_func[:, 0] > 0.1"
    # None: rollout.response_length (released: the same max_completion_length as the ordered ones)
    max_response_length: Optional[int] = None
    seed: int = 0  # permutation seed, with the step and the sample (released: unseeded torch.randperm)

    def __post_init__(self) -> None:
        if self.n_shuffled is not None and self.n_shuffled < 0:
            raise ConfigError(f"temporal.n_shuffled must be >= 0, got {self.n_shuffled}")
        if self.max_response_length is not None and self.max_response_length < 1:
            raise ConfigError(f"temporal.max_response_length must be >= 1, got {self.max_response_length}")
        if self.mu < 0:
            raise ConfigError(f"temporal.mu must be >= 0, got {self.mu}")


@dataclass(frozen=True)
class RayActorConfig:
    """Where the semantic encoder runs: one named Ray actor that Ray accounts for."""

    enable: Any = "auto"  # True | False | "auto" (the actor whenever Ray runs)
    name: str = "videorft_semantic_encoder"
    namespace: str = "verl_videorft"
    num_gpus: float = 0.0  # 0: CPU, beside verl's pools; > 0 needs a GPU outside them
    num_cpus: float = 1.0  # reserved for the actor; also the encoder's torch thread count on CPU
    lifetime: Optional[str] = None  # "detached" keeps it across runs
    max_concurrency: int = 4
    ready_timeout_s: float = 300.0  # fail loudly, not hang, when the actor never starts

    def __post_init__(self) -> None:
        # num_cpus 0 on a CPU actor: nothing reserved and Ray sets one OpenMP thread (seconds a frame).
        if self.num_gpus == 0 and self.num_cpus < 1:
            raise ConfigError(f"semantic.ray_actor.num_cpus must be >= 1 for a CPU encoder "
                              f"(num_gpus 0), got {self.num_cpus}")


@dataclass(frozen=True)
class SemanticConfig:
    """The semantic scorer's settings (frozen: the process-wide scorer is keyed by them).

    ``frame_profile`` applies when a sample carries none; the dataset writes the rollout's profile
    into every sample, so it rarely does.
    """

    encoder: str = DEFAULT_ENCODER
    backend: str = "auto"  # "hf" (SigLIP/CLIP) | "sentence-transformers" | "auto"
    device: str = "auto"  # "auto": cuda if this process was given a GPU, else cpu
    weight: float = 2.0
    aggregate: str = "mean"  # "mean" (paper) | "per_frame" (released code)
    frame_profile: Any = "train"
    embedding_cache_size: int = 4096  # videos; ~74 KB each for 16 frames of so400m (1152-d)
    # Folder of the on-disk tier (one .npy per video, profile and encoder; not size-bounded);
    # None: env VIDEORFT_EMBEDDING_CACHE_DIR, else memory only.
    embedding_cache_dir: Optional[str] = None

    def __post_init__(self) -> None:
        if self.aggregate not in AGGREGATES:
            raise ConfigError(f"semantic.aggregate must be one of {AGGREGATES}, got {self.aggregate!r}")

    def scorer_fields(self) -> dict[str, Any]:
        """Only the scorer's own fields (what a subclass adds is dropped)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(SemanticConfig)}


@dataclass(frozen=True)
class SemanticRewardConfig(SemanticConfig):
    """``reward.videorft.semantic``: the scorer's settings, an on/off switch, and its Ray actor."""

    enable: bool = True
    ray_actor: RayActorConfig = field(default_factory=RayActorConfig)


@dataclass
class RewardConfig:
    """``reward.videorft``: ``score = w_acc·acc + w_fmt·fmt + w_sem·gate(acc)·sem + length bonus``
    (the reward manager computes the per-sample part, the ``videorft_sync`` trainer the group terms)."""

    weights: WeightsConfig = field(default_factory=WeightsConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    length_bonus: LengthBonusConfig = field(default_factory=LengthBonusConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)  # T-GRPO (off: VideoRFT)
    accuracy: AccuracyOptions = field(default_factory=AccuracyOptions)
    semantic: SemanticRewardConfig = field(default_factory=SemanticRewardConfig)


# -- loading ---------------------------------------------------------------------------------------
def _writable(node: Any) -> None:
    """Frozen dataclasses come back read-only from ``OmegaConf.structured``; open them for the merge
    (``to_object`` builds the frozen objects again)."""
    OmegaConf.set_readonly(node, None)
    for key in node:
        if OmegaConf.is_dict(node[key]):
            _writable(node[key])


def _select(config: Any, path: str) -> Any:
    if config is None:
        return None
    return OmegaConf.select(config if OmegaConf.is_config(config) else OmegaConf.create(config), path)


def _scalar_for_block(base: Any, given: Any, prefix: str = "") -> str | None:
    """Where a plain value was given for a block (OmegaConf's merge error names only the type)."""
    if not isinstance(given, dict):
        return None
    for key, value in given.items():
        child = base[key] if OmegaConf.is_dict(base) and key in base else None
        if OmegaConf.is_dict(child) and value is not None and not isinstance(value, dict):
            return f"{prefix}{key}"
        found = _scalar_for_block(child, value, f"{prefix}{key}.") if OmegaConf.is_dict(child) else None
        if found:
            return found
    return None


def load_section(cls: type[T], node: Any, where: str) -> T:
    """``node`` (OmegaConf, dict or None) merged over the dataclass ``cls``; errors name ``where.key``."""
    base = OmegaConf.structured(cls)
    _writable(base)
    given = to_plain(node) or {}
    try:
        merged = OmegaConf.merge(base, given)
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", "") or _scalar_for_block(base, given) or ""
        message = str(err).splitlines()[0]
        raise ConfigError(f"{where}.{key}: {message}" if key else f"{where}: {message}") from None
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def data_config(data_node: Any) -> DataConfig:
    """``data.videorft`` from verl's ``data`` config node (what the dataset class receives)."""
    return load_section(DataConfig, _select(data_node, "videorft"), "data.videorft")


def reward_config(config: Any) -> RewardConfig:
    """``reward.videorft`` from the full trainer config (what the reward manager receives)."""
    return load_section(RewardConfig, _select(config, "reward.videorft"), "reward.videorft")
