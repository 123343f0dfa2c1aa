"""Settings of ``videorft cot build`` (one dataclass each; defaults are their only copy).

These are a command-line tool's settings, not a verl recipe block, so they live here rather than
in :mod:`verl_videorft.config`; the semantic filter reuses that module's ``SemanticConfig``.

    >>> EngineSpec.parse("openai:Qwen/Qwen2.5-VL-72B@http://127.0.0.1:8000/v1").base_url
    'http://127.0.0.1:8000/v1'
    >>> CotSettings().stage_gen("reason").max_new_tokens
    2048
"""

from __future__ import annotations

from dataclasses import dataclass, field

STAGES = ("describe", "reason", "revise", "filter")
MODEL_STAGES = ("describe", "reason", "revise")
FRAME_STAGES = ("describe", "revise", "filter")  # the stages that look at the frames
ENGINE_KINDS = ("hf", "vllm", "openai")


@dataclass(frozen=True)
class EngineSpec:
    """Which engine runs a stage: ``kind`` (hf | vllm | openai), ``model`` (local path, or the
    served model name for openai), ``base_url`` (openai only, e.g. ``http://host:8000/v1``)."""

    kind: str
    model: str
    base_url: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ENGINE_KINDS:
            raise ValueError(f"unknown engine {self.kind!r}; expected one of {ENGINE_KINDS}")
        if not self.model:
            raise ValueError(f"engine {self.kind!r} needs a model (path or served name)")
        if self.kind == "openai" and not self.base_url:
            raise ValueError("engine 'openai' needs a base URL (--base-url, e.g. http://127.0.0.1:8000/v1)")

    @classmethod
    def parse(cls, text: str) -> EngineSpec:
        """``KIND:MODEL`` or ``openai:MODEL@BASE_URL``."""
        kind, sep, rest = text.partition(":")
        if not sep:
            raise ValueError(f"engine spec {text!r}: expected KIND:MODEL (e.g. hf:/models/qwen)")
        model, base = rest, None
        if kind == "openai" and "@" in rest:
            model, base = rest.rsplit("@", 1)
        return cls(kind, model, base)

    def label(self) -> str:
        return f"{self.kind}:{self.model}" + (f"@{self.base_url}" if self.base_url else "")


@dataclass(frozen=True)
class GenSettings:
    """Decoding of one stage. ``temperature <= 0`` is greedy; retries sample at
    ``max(temperature, retry_temperature)`` so a retry can differ from the failed reply."""

    max_new_tokens: int = 1024
    temperature: float = 0.2
    top_p: float = 0.95
    retry_temperature: float = 0.7
    seed: int = 0


@dataclass(frozen=True)
class HttpSettings:
    """OpenAI-compatible endpoints: requests in flight per engine, per-request timeout, retries
    (429, 5xx, time-outs, dropped connections) with exponential backoff from ``backoff_s``; the
    key is read from the environment variable ``api_key_env`` (never from the command line)."""

    concurrency: int = 8
    timeout_s: float = 300.0
    max_retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    api_key_env: str = "OPENAI_API_KEY"
    image_format: str = "jpeg"  # frames travel as data URLs
    image_quality: int = 90


@dataclass(frozen=True)
class FilterSettings:
    """What a kept sample must reach.

    - accuracy: the project's accuracy reward of the revised chain's answer against the record's
      solution must be 1 for multiple choice, numerical and regression (exact answers score 1:
      ``regression_zero_fix``), and at least ``min_text_accuracy`` for OCR (1 - WER) and
      free-form (ROUGE); the paper keeps only samples with a correct final answer.
    - semantic: the project's semantic-consistency reward of the chain against the frames the
      revise stage saw, at least ``min_semantic`` (calibrate it on your encoder: SigLIP cosines are
      small, so the paper's ``min(1, 2 cos)`` of a matching text is often 0.1-0.3).
    - length: the think body's word count within ``[min_think_words, max_think_words]`` (1024
      response tokens, the paper's RL limit, are about 700 English words).
    """

    min_text_accuracy: float = 0.5
    min_semantic: float = 0.1
    min_think_words: int = 20
    max_think_words: int = 700
    semantic_encoder: str | None = None  # None: the semantic reward's default (SigLIP so400m)
    semantic_device: str = "auto"


def _default_gen() -> dict[str, GenSettings]:
    return {"describe": GenSettings(1024, 0.2), "reason": GenSettings(2048, 0.6),
            "revise": GenSettings(2048, 0.2)}


@dataclass(frozen=True)
class CotSettings:
    """Everything but the engines and paths.

    Frames: ``fps`` frames per second of video (paper: 1), at most ``max_frames`` (a 10-minute clip
    would otherwise be 600 frames), at least 2, an even count (Qwen's temporal patch), each resized
    to ``frame_pixels`` (min = max, like the paper's training profile).
    """

    fps: float = 1.0
    max_frames: int = 64
    frame_pixels: int = 128 * 28 * 28
    size_multiple: int = 28
    max_attempts: int = 3  # per model call whose reply fails validation
    batch_size: int = 4  # requests per engine call
    chunk_size: int = 64  # records taken through all stages together (frames kept in memory)
    frame_cache_bytes: int = 4 << 30
    gen: dict[str, GenSettings] = field(default_factory=_default_gen)
    http: HttpSettings = field(default_factory=HttpSettings)
    filter: FilterSettings = field(default_factory=FilterSettings)

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ValueError(f"--fps must be > 0, got {self.fps}")
        if self.max_frames < 2:
            raise ValueError(f"--max-frames must be >= 2, got {self.max_frames}")
        if self.max_attempts < 1 or self.batch_size < 1 or self.chunk_size < 1:
            raise ValueError("max_attempts, batch_size and chunk_size must be >= 1")

    def stage_gen(self, stage: str) -> GenSettings:
        return self.gen.get(stage, GenSettings())
