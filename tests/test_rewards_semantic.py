"""Semantic-consistency reward with real (tiny, random) SigLIP and sentence-transformers CLIP."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from verl_videorft.rewards.semantic import (
    SemanticConfig,
    SemanticScorer,
    semantic_scores,
    think_text,
)

GROUP = [
    "<think>The question asks what moves. A colourful test pattern with moving numbers.</think>"
    "<answer>A</answer>",
    "<think>Hmm. Wait, the frame shows a counter in the middle.</think><answer>B</answer>",
    "<think>No full stop here at all</think><answer>C</answer>",
    "<answer>D</answer>",  # no think block: semantic 0
]

THINK_CASES = [
    ("<think>First. Second. Third</think><answer>A</answer>", "Second. Third"),
    ("<think>no dot</think>", "no dot"),
    ("<think>Only one sentence.</think>", ""),
    ("<think>unclosed", ""),
    ("no tags", ""),
    ("<think>a.b</think><think>x.y</think>", "b"),
]


@pytest.mark.parametrize("completion, expected", THINK_CASES)
def test_think_text(completion, expected):
    assert think_text(completion) == expected


TEXT = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
FRAMES = np.array([[1.0, 0.0], [0.0, 1.0]])


@pytest.mark.parametrize("text, weight, aggregate, expected", [
    (TEXT, 2.0, "mean", [1.0, 1.0, 0.0]),  # cos(t, mean) = 1/sqrt(2) -> min(1, 2*0.707); opposite -> 0
    (TEXT, 2.0, "per_frame", [0.5, 0.5, 0.0]),  # mean of min(1, 2*max(cos, 0)) over (1, 0) frames
    (TEXT[:1], 0.5, "mean", [0.5 / 2 ** 0.5]),  # below the cap the weight scales the cosine
])
def test_semantic_scores_formula(text, weight, aggregate, expected):
    assert semantic_scores(text, FRAMES, weight=weight, aggregate=aggregate).tolist() == pytest.approx(expected)


def test_unknown_aggregate_is_refused():
    with pytest.raises(ValueError, match="aggregate"):
        semantic_scores(TEXT, FRAMES, aggregate="max")


def test_import_loads_no_encoder_or_torch():
    code = ("import sys, verl_videorft.rewards, verl_videorft.rewards.semantic as s; "
            "from verl_videorft.rewards.encoders import loaded_encoders; "
            "print(loaded_encoders(), 'torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "False", "False"]


@pytest.fixture()
def scorer(tiny_siglip):
    return SemanticScorer(SemanticConfig(encoder=str(tiny_siglip), frame_profile={
        "nframes": 4, "min_pixels": 64 * 28 * 28, "max_pixels": 64 * 28 * 28}))


def test_hf_siglip_scores_match_manual_formula(scorer, clip):
    result = scorer.score_group(GROUP, str(clip))
    assert result.media_error is None
    assert all(0.0 <= s <= 1.0 for s in result.scores) and result.scores[3] == 0.0
    enc = scorer.encoder
    from verl_videorft.video import sample_frames

    frames, _ = sample_frames(clip, scorer.config.frame_profile)
    text_emb = enc.encode_texts([think_text(c) for c in GROUP[:3]])
    assert np.linalg.norm(text_emb, axis=1) == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
    expected = semantic_scores(text_emb, enc.encode_images(frames))
    assert result.scores[:3] == pytest.approx(expected.tolist(), abs=1e-5)


def test_encoder_loads_once_per_process(scorer, tiny_siglip):
    other = SemanticScorer(SemanticConfig(encoder=str(tiny_siglip), aggregate="per_frame"))
    assert other.encoder is scorer.encoder


def test_frame_embeddings_cached_per_video_and_profile(scorer, clip):
    scorer.score_group(GROUP, str(clip))
    scorer.score_group(GROUP[:2], str(clip))
    assert scorer.counters["embedding_cache_misses"] == 1
    assert scorer.counters["embedding_cache_hits"] == 1
    scorer.score_group(GROUP[:1], str(clip), {"nframes": 2, "min_pixels": 3136, "max_pixels": 3136})
    assert scorer.counters["embedding_cache_misses"] == 2  # another profile: other frames


def test_per_frame_mode_is_released_code_formula(tiny_siglip, clip):
    prof = {"nframes": 4, "min_pixels": 3136, "max_pixels": 3136}
    per_frame = SemanticScorer(SemanticConfig(encoder=str(tiny_siglip), aggregate="per_frame",
                                              frame_profile=prof))
    scores = per_frame.score_group(GROUP[:2], str(clip)).scores
    from verl_videorft.video import sample_frames

    enc = per_frame.encoder
    frame_emb = enc.encode_images(sample_frames(clip, prof)[0])
    cos = enc.encode_texts([think_text(c) for c in GROUP[:2]]) @ frame_emb.T
    assert scores == pytest.approx(np.clip(2 * cos, 0, 1).mean(axis=1).tolist(), abs=1e-5)


@pytest.mark.parametrize("content", [
    None,                          # missing file
    b"\x00not a video" * 100,      # undecodable file
])
def test_missing_or_corrupt_media_scores_zero_and_counts(scorer, tmp_path, content):
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    result = scorer.score_group(GROUP, str(path))
    assert (result.scores, bool(result.media_error), scorer.counters["media_errors"]) == ([0.0] * len(GROUP), True, 1)


def test_no_media_path_scores_zero_and_counts(scorer):
    assert scorer.score_group(GROUP, None).scores == [0.0] * len(GROUP)
    assert scorer.counters["media_missing"] == 1


def test_image_sample_uses_the_image_as_one_frame(scorer, tmp_path):
    from PIL import Image

    path = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(path)
    result = scorer.score_group(GROUP[:2], str(path))
    assert result.media_error is None and all(0.0 <= s <= 1.0 for s in result.scores)


def test_megabyte_think_text_is_truncated_not_choked(scorer, clip):
    huge = "<think>Q. " + "the ball moves left " * 50_000 + "</think><answer>A</answer>"
    assert 0.0 <= scorer.score_group([huge], str(clip)).scores[0] <= 1.0


def test_sentence_transformers_clip_backend(tmp_path, clip):
    st = pytest.importorskip("sentence_transformers")
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor

    from verl_videorft.testing import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    cfg = CLIPConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=77, projection_dim=16,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64,
                           num_hidden_layers=1, num_attention_heads=2, projection_dim=16),
        projection_dim=16)
    raw = tmp_path / "clip-raw"
    CLIPModel(cfg).save_pretrained(raw)
    from transformers import CLIPImageProcessor

    CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                     crop_size={"height": 32, "width": 32}),
                  tokenizer=tok).save_pretrained(raw)
    # sentence-transformers wraps a local HF CLIP folder itself (text + image modalities)
    st.SentenceTransformer(str(raw), device="cpu").save(str(tmp_path / "st-clip"))
    scorer = SemanticScorer(SemanticConfig(encoder=str(tmp_path / "st-clip"),
                                           frame_profile={"nframes": 2, "min_pixels": 3136,
                                                          "max_pixels": 3136}))
    result = scorer.score_group(GROUP + ["<think>Q. " + "long text " * 500 + "</think>"], str(clip))
    assert type(scorer.encoder).__name__ == "SentenceTransformerEncoder"
    assert scorer.encoder.text_length == 77
    assert result.media_error is None and all(0.0 <= s <= 1.0 for s in result.scores)
    assert result.scores[3] == 0.0


@pytest.fixture(scope="module")
def siglip_with_sentencepiece(tmp_path_factory):
    """A tiny SigLIP with the production tokenizer class (SiglipTokenizer, SentencePiece)."""
    spm = pytest.importorskip("sentencepiece")
    import torch
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipTokenizer

    from verl_videorft.testing import tokenizer_corpus

    out = tmp_path_factory.mktemp("siglip-sp")
    (out / "corpus.txt").write_text("\n".join(tokenizer_corpus()))
    spm.SentencePieceTrainer.train(input=str(out / "corpus.txt"), model_prefix=str(out / "sp"),
                                   vocab_size=150, pad_id=1, eos_id=2, unk_id=0, bos_id=-1,
                                   minloglevel=2)
    tok = SiglipTokenizer(vocab_file=str(out / "sp.model"), model_max_length=64)
    cfg = SiglipConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=64),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64,
                           num_hidden_layers=1, num_attention_heads=2))
    torch.manual_seed(0)
    SiglipModel(cfg).save_pretrained(out / "model")
    tok.save_pretrained(out / "model")
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out / "model")
    return out / "model"


def test_siglip_text_truncated_to_64_tokens(siglip_with_sentencepiece):
    from verl_videorft.rewards.encoders import HFEncoder

    enc = HFEncoder(str(siglip_with_sentencepiece))
    assert type(enc.tokenizer).__name__ == "SiglipTokenizer" and enc.text_length == 64
    base = "let me think the red circle moves left then the blue square " * 12
    ids = enc.tokenizer(base, truncation=True, max_length=64)["input_ids"]
    assert len(ids) == 64  # base alone already fills the text length
    a, b = enc.encode_texts([base, base + " and something else entirely at the end"])
    assert np.allclose(a, b, atol=1e-6)  # beyond 64 tokens nothing counts
    c = enc.encode_texts(["a different short text"])[0]
    assert not np.allclose(a, c, atol=1e-3)


class _BlockingEncoder:
    """Encodes only when released, and counts its calls."""

    def __init__(self):
        import threading

        self.calls = 0
        self.release = threading.Event()

    def encode_images(self, frames):
        self.calls += 1
        assert self.release.wait(timeout=60)
        return np.ones((len(frames), 4), dtype=np.float32) / 2.0


def test_concurrent_requests_for_one_video_encode_it_once(clip, monkeypatch):
    import time
    from concurrent.futures import ThreadPoolExecutor

    encoder = _BlockingEncoder()
    monkeypatch.setattr(SemanticScorer, "encoder", property(lambda self: encoder))
    scorer = SemanticScorer(SemanticConfig(encoder="blocking", frame_profile={
        "nframes": 2, "min_pixels": 56 * 56, "max_pixels": 56 * 56}))
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(scorer.frame_embeddings, str(clip))
        while encoder.calls == 0:  # the first request is encoding...
            time.sleep(0.01)
        second = pool.submit(scorer.frame_embeddings, str(clip))
        deadline = time.monotonic() + 10  # ...until the second one waits for it (or encodes too)
        while scorer.counters["embedding_inflight_waits"] == 0 and encoder.calls == 1 \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        encoder.release.set()
        a, b = first.result(), second.result()
    assert encoder.calls == 1 and a is b
