"""GPU-mode plumbing on CPU: reward workers in separate Ray processes share one named encoder actor
that Ray accounts for (``num_gpus=0`` here: CPU, its cores reserved; > 0 on a GPU cluster)."""

from __future__ import annotations

import asyncio
import os

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("verl")


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "FORCE_QWENVL_VIDEO_READER": "decord",
                                       "PYTHONPATH": os.pathsep.join(
                                           [str(__import__("pathlib").Path(__file__).parents[1]),
                                            os.environ.get("PYTHONPATH", "")])}})
    yield
    ray.shutdown()


@ray.remote(num_cpus=0)
class RewardWorker:
    """Stands in for verl's RewardLoopWorker: one manager per process, async calls."""

    def __init__(self, config: dict):
        from omegaconf import OmegaConf

        from verl_videorft.rewards.manager import VideoRFTRewardManager
        from verl_videorft.testing import build_tiny_tokenizer

        self.tok = build_tiny_tokenizer()
        self.manager = VideoRFTRewardManager(OmegaConf.create(config), self.tok)

    async def score(self, completion: str, uid: str, session: int, media_path: str, profile: dict):
        import sys

        sys.path.insert(0, os.path.dirname(__file__))
        from test_rewards_manager import sample

        item = sample(self.tok, completion, uid=uid, session=session, media_path=media_path, profile=profile)
        return (await self.manager.run_single(item))["reward_extra_info"]


@pytest.mark.slow  # starts Ray and 4 processes: ~30-60 s on 2 busy cores
def test_workers_share_one_cpu_encoder_actor(ray_cluster, tiny_siglip, clip):
    from verl_videorft.config import RayActorConfig

    config = {"reward": {"videorft": {"semantic": {
        "enable": True, "encoder": str(tiny_siglip), "ray_actor": {"enable": True, "num_cpus": 1}}}}}
    workers = [RewardWorker.remote(config) for _ in range(2)]
    prof = {"nframes": 2, "min_pixels": 3136, "max_pixels": 3136}
    answers = ["B", "B", "C", "B"]
    refs = [workers[i % 2].score.remote(f"<think>Q. The pattern moves {a}.</think><answer>{a}</answer>",
                                        "uid-ray", i, str(clip), prof) for i, a in enumerate(answers)]
    infos = ray.get(refs, timeout=240)
    assert all(i["sem_media_error"] == 0.0 and 0.0 <= i["sem_raw"] <= 1.0 for i in infos)
    assert infos[2]["sem"] == 0.0                                   # gated: wrong answer
    where = RayActorConfig()
    actor = ray.get_actor(where.name, namespace=where.namespace)    # the one named encoder owner
    assert ray.get(actor.counters.remote())["embedding_cache_misses"] == 1  # one encode per video
    assert ray.get(actor.placement.remote()) == {"device": "cpu", "threads": 1, "cuda_visible_devices": ""}


@pytest.mark.slow
def test_gpu_actor_without_a_free_gpu_fails_at_once(ray_cluster, tiny_siglip):
    from omegaconf import OmegaConf

    from verl_videorft.rewards.manager import VideoRFTRewardManager
    from verl_videorft.testing import build_tiny_tokenizer

    cfg = OmegaConf.create({"reward": {"videorft": {"semantic": {
        "encoder": str(tiny_siglip), "ray_actor": {"enable": "auto", "name": "no_gpu_here", "num_gpus": 1}}}}})
    manager = VideoRFTRewardManager(cfg, build_tiny_tokenizer())
    with pytest.raises(RuntimeError, match="num_gpus=1 .* only 0 GPU is free"):
        asyncio.run(manager._semantic("a text", "/nowhere.mp4", None))
