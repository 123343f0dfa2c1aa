"""On-disk tier of the semantic reward's frame-embedding cache, its precompute, and the config path
from the recipe / manager to it (real tiny SigLIP, real decoded clip)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from omegaconf import OmegaConf

from verl_videorft.cli import data as data_cli
from verl_videorft.rewards.semantic import (
    EMBEDDING_CACHE_ENV,
    SemanticConfig,
    SemanticScorer,
    precompute_frame_embeddings,
)
from verl_videorft.video import cache as frame_cache

SMALL = {"nframes": 4, "min_pixels": 64 * 28 * 28, "max_pixels": 64 * 28 * 28}
GROUP = ["<think>Q. A colourful test pattern with a counter.</think><answer>A</answer>",
         "<think>Hmm. Moving numbers in the middle.</think><answer>B</answer>"]


@pytest.fixture()
def encode_calls(tiny_siglip, monkeypatch):
    """Counts real ``encode_images`` calls of the process-wide tiny SigLIP encoder."""
    enc = SemanticScorer(SemanticConfig(encoder=str(tiny_siglip), device="cpu")).encoder
    calls = []
    real = enc.encode_images

    def counting(frames):
        calls.append(len(frames))
        return real(frames)

    monkeypatch.setattr(enc, "encode_images", counting)
    return calls


def _config(tiny_siglip, emb_dir, **kw):
    return SemanticConfig(encoder=str(tiny_siglip), device="cpu", frame_profile=SMALL,
                          embedding_cache_dir=str(emb_dir), **kw)


def test_fresh_scorer_reads_disk_instead_of_encoding(tiny_siglip, clip, tmp_path, encode_calls):
    emb_dir = tmp_path / "emb"
    first = SemanticScorer(_config(tiny_siglip, emb_dir))
    scores_first = first.score_group(GROUP, str(clip)).scores
    assert encode_calls == [4] and first.counters["embedding_disk_writes"] == 1
    files = list(emb_dir.glob("*.npy"))
    assert len(files) == 1 and not list(emb_dir.glob("*.tmp"))  # atomic: no leftovers

    second = SemanticScorer(_config(tiny_siglip, emb_dir))  # empty in-memory LRU
    result = second.score_group(GROUP, str(clip))
    assert encode_calls == [4], "second scorer encoded frames although they were on disk"
    assert second.counters["embedding_disk_hits"] == 1
    assert result.scores == pytest.approx(scores_first, abs=1e-6)
    np.testing.assert_array_equal(second.frame_embeddings(str(clip)), np.load(files[0]))
    assert second.counters["embedding_cache_hits"] == 1  # now served from memory


def test_disk_key_holds_the_frame_profile_and_the_encoder(tiny_siglip, clip, tmp_path, encode_calls):
    emb_dir = tmp_path / "emb"
    SemanticScorer(_config(tiny_siglip, emb_dir)).frame_embeddings(str(clip))
    SemanticScorer(_config(tiny_siglip, emb_dir)).frame_embeddings(str(clip), {**SMALL, "nframes": 2})
    other_encoder = tmp_path / "other-siglip"
    shutil.copytree(tiny_siglip, other_encoder)
    SemanticScorer(_config(other_encoder, emb_dir)).frame_embeddings(str(clip))
    assert encode_calls[:2] == [4, 2] and len(list(emb_dir.glob("*.npy"))) == 3


def test_truncated_cache_file_is_reencoded_not_raised(tiny_siglip, clip, tmp_path, encode_calls):
    emb_dir = tmp_path / "emb"
    scorer = SemanticScorer(_config(tiny_siglip, emb_dir))
    good = np.array(scorer.frame_embeddings(str(clip)))
    (path,) = emb_dir.glob("*.npy")
    path.write_bytes(path.read_bytes()[:40])  # a crashed writer elsewhere, or a full disk

    fresh = SemanticScorer(_config(tiny_siglip, emb_dir))
    np.testing.assert_allclose(fresh.frame_embeddings(str(clip)), good, atol=1e-6)
    assert len(encode_calls) == 2 and fresh.counters["embedding_disk_errors"] == 1
    np.testing.assert_allclose(np.load(path), good, atol=1e-6)  # rewritten whole


@pytest.mark.parametrize("env, configured, expected", [
    ("env", None, "env"),
    ("env", "cfg", "cfg"),  # the config wins over the environment
    (None, None, None),
])
def test_disk_folder_from_config_else_env(tmp_path, monkeypatch, env, configured, expected):
    if env is None:
        monkeypatch.delenv(EMBEDDING_CACHE_ENV, raising=False)
    else:
        monkeypatch.setenv(EMBEDDING_CACHE_ENV, str(tmp_path / env))
    config = SemanticConfig(embedding_cache_dir=str(tmp_path / configured) if configured else None)
    assert SemanticScorer(config).disk_dir == (tmp_path / expected if expected else None)


def test_precompute_without_a_disk_folder_is_refused(monkeypatch):
    monkeypatch.delenv(EMBEDDING_CACHE_ENV, raising=False)
    with pytest.raises(ValueError, match="embedding_cache_dir"):
        precompute_frame_embeddings([], SemanticConfig(), "train")


@pytest.fixture()
def precompute_paths(clip, tmp_path):
    """A good clip, a corrupt one and a missing one."""
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video" * 40)
    return [str(clip), str(bad), str(tmp_path / "missing.mp4")]


def test_precompute_counts_corrupt_and_missing_as_failed(tiny_siglip, tmp_path, precompute_paths):
    errors = []
    counts = precompute_frame_embeddings(precompute_paths, _config(tiny_siglip, tmp_path / "emb"), SMALL,
                                         on_error=lambda p, r: errors.append(p))
    assert (counts, errors) == ({"encoded": 1, "cached": 0, "failed": 2}, precompute_paths[1:])


def test_precompute_rerun_and_training_read_the_cache(tiny_siglip, clip, tmp_path, encode_calls, precompute_paths):
    config = _config(tiny_siglip, tmp_path / "emb")
    precompute_frame_embeddings(precompute_paths, config, SMALL)
    assert precompute_frame_embeddings(precompute_paths, config, SMALL) == {"encoded": 0, "cached": 1, "failed": 2}
    SemanticScorer(config).frame_embeddings(str(clip))
    assert encode_calls == [4]


def test_precompute_cli_fills_the_cache_training_reads(tiny_siglip, clip, tmp_path, monkeypatch,
                                                      capsys, encode_calls):
    monkeypatch.setattr(frame_cache, "_GLOBAL", frame_cache._GLOBAL)  # the CLI reconfigures it
    shutil.copy(clip, tmp_path / "c.mp4")
    (tmp_path / "bad.mp4").write_bytes(b"garbage" * 100)
    rec = {"problem": "What happens?", "problem_type": "free-form", "solution": "<answer>x</answer>",
           "data_type": "video"}
    src = tmp_path / "p.jsonl"
    src.write_text("".join(json.dumps({**rec, "path": p}) + "\n" for p in ("c.mp4", "bad.mp4")))
    profile = {"nframes": 2, "min_pixels": 32 * 28 * 28, "max_pixels": 32 * 28 * 28}
    from verl_videorft.video import PROFILES, resolve_profile

    monkeypatch.setitem(PROFILES, "disk_test", resolve_profile(profile))
    argv = ["data", "precompute", str(src), "--profile", "disk_test", "--frame-cache-dir",
            str(tmp_path / "frames"), "--semantic-model", str(tiny_siglip), "--semantic-device", "cpu",
            "--embedding-cache-dir", str(tmp_path / "emb"), "--workers", "1", "--quiet"]
    assert data_cli.main(argv) == 1  # bad.mp4 is reported, the run finishes
    out = capsys.readouterr()
    assert "1 encoded, 0 already cached, 0 failed" in out.out and "bad.mp4" in out.err
    assert encode_calls == [2]

    training = SemanticScorer(SemanticConfig(encoder=str(tiny_siglip), device="cpu",
                                             embedding_cache_dir=str(tmp_path / "emb")))
    training.frame_embeddings(str(tmp_path / "c.mp4"), {**profile, "pass_fps": False})
    assert encode_calls == [2] and training.counters["embedding_disk_hits"] == 1

    assert data_cli.main(argv) == 1
    assert "0 encoded, 1 already cached" in capsys.readouterr().out
    monkeypatch.delenv(EMBEDDING_CACHE_ENV, raising=False)
    assert data_cli.main(argv[:-5] + ["--workers", "1", "--quiet"]) == 2  # no folder: clear error
    assert "--embedding-cache-dir" in capsys.readouterr().err


def test_manager_passes_the_folder_to_the_encoder_actor(tmp_path, tiny_siglip):
    from verl_videorft.rewards.manager import VideoRFTRewardManager
    from verl_videorft.rewards.remote import SemanticEncoderActor
    from verl_videorft.testing import build_tiny_tokenizer

    cfg = OmegaConf.create({"actor_rollout_ref": {"rollout": {"n": 2, "val_kwargs": {"n": 1}}},
                            "reward": {"videorft": {"semantic": {"embedding_cache_dir": str(tmp_path),
                                                                 "encoder": str(tiny_siglip)}}}})
    manager = VideoRFTRewardManager(cfg, build_tiny_tokenizer())
    assert manager.sem_config.embedding_cache_dir == str(tmp_path)
    # the Ray encoder actor gets the scorer's part of the same config (and loads that encoder at start)
    actor = SemanticEncoderActor(SemanticConfig(**manager.sem_config.scorer_fields()), num_threads=1)
    assert actor.config.embedding_cache_dir == str(tmp_path)
