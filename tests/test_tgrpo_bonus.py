"""T-GRPO's temporal bonus: the arithmetic on one group, its metrics, how the trainer reads a row,
the typed settings and the recipe."""

from __future__ import annotations

import pytest

from verl_videorft.config import ConfigError, RewardConfig, TemporalConfig, WeightsConfig, reward_config
from verl_videorft.names import ERROR_KEY, SHUFFLED_KEY
from verl_videorft.rewards.group_terms import Member, compute_group_terms, member_of
from verl_videorft.rewards.temporal import Row, contrast, temporal_bonus, temporal_metrics

ON = RewardConfig(temporal=TemporalConfig(enable=True))


def rows(*spec: tuple[float, tuple[float, ...]], video: bool = True) -> list[Row]:
    return [Row(acc, shuffled, video) for acc, shuffled in spec]


@pytest.mark.parametrize("group, bonus", [
    (rows((1.0, (0.0,)), (1.0, (0.0,)), (0.0, ())), [0.3, 0.3, 0.0]),  # order helps: right ones gain
    (rows((0.0, (1.0,)), (1.0, (1.0,))), [0.0, 0.0]),  # ordered 0.5 < 0.8 * 1.0: nothing
    (rows((1.0, (0.5,)), (0.0, ()), (1.0, ()), (0.0, ()), (0.0, ())), [0.3, 0, 0.3, 0, 0]),  # μ boundary: 0.4 = 0.8·0.5
    (rows((1.0, (1.0,)), (0.0, ()), (1.0, ()), (0.0, ()), (0.0, ())), [0.0] * 5),  # 0.4 < 0.8 · 1.0
    (rows((0.0, (0.0,)), (0.0, (0.0,))), [0.0, 0.0]),  # no correct rollout: condition holds, nobody gains
    (rows((0.1, (0.0,)), (0.11, ())), [0.0, 0.3]),  # acc must exceed 0.1
    (rows((1.0, (0.0,)), (1.0, ()), video=False), [0.0, 0.0]),  # image prompt: no contrast
    (rows((1.0, ()), (1.0, ())), [0.0, 0.0]),  # video, but every shuffled result missing: no bonus
    (rows((1.0, (0.0, 0.0)), (1.0, ())), [0.3, 0.3]),  # one member made both shuffled rollouts
    ([], []),  # a group with no usable member
])
def test_temporal_bonus(group, bonus):
    assert temporal_bonus(group, ON) == pytest.approx(bonus)


def test_mu_one_is_the_papers_rule():
    group = rows((1.0, (1.0,)), (0.0, (0.0,)))  # 0.5 vs 0.5: passes at μ = 1 (≥), fails above it
    assert contrast(group, TemporalConfig(mu=1.0)).holds and not contrast(group, TemporalConfig(mu=1.01)).holds


def test_bonus_is_off_by_default():
    assert temporal_bonus(rows((1.0, (0.0,))), RewardConfig()) == [0.0]


def test_bonus_scales_with_the_accuracy_weight():
    cfg = RewardConfig(weights=WeightsConfig(accuracy=2.0), temporal=TemporalConfig(enable=True, alpha=0.25))
    assert temporal_bonus(rows((1.0, (0.0,))), cfg) == [0.5]


def test_alpha_zero_adds_nothing():
    cfg = RewardConfig(temporal=TemporalConfig(enable=True, alpha=0.0))
    assert temporal_bonus(rows((1.0, (0.0,)), (1.0, ())), cfg) == [0.0, 0.0]


def test_group_terms_skip_failed_and_padding_members():
    """An aborted member's accuracy is not in the ordered mean; its shuffled results are not counted."""
    members = [Member("u", 1.0, 10, video=True, shuffled_acc=(0.0,)),
               Member("u", 0.0, 10, aborted=True, video=True, shuffled_acc=(1.0,)),
               Member("u", 1.0, 10, padding=True, video=True),
               Member("v", 1.0, 10, video=False)]
    result = compute_group_terms(members, ON, group_size=3)
    assert result.terms["temporal_bonus"].tolist() == pytest.approx([0.3, 0.0, 0.0, 0.0])


def test_metrics_over_evaluated_video_groups():
    groups = [rows((1.0, (0.0,)), (1.0, ())), rows((0.0, (1.0,)), (0.0, ())),
              rows((1.0, ()), (1.0, ())), rows((1.0, ()), video=False)]
    m = temporal_metrics(groups, TemporalConfig(), planned=4)
    assert m == pytest.approx({"tgrpo/video_groups": 3.0, "tgrpo/groups_without_shuffled": 1.0,
                               "tgrpo/shuffled_rollouts": 2.0, "tgrpo/shuffled_missing": 2.0,
                               "tgrpo/ordered_acc": 0.5, "tgrpo/shuffled_acc": 0.5, "tgrpo/bonus_rate": 0.5})


def test_metrics_without_any_video_have_no_rates():
    assert "tgrpo/bonus_rate" not in temporal_metrics([rows((1.0, ()), video=False)], TemporalConfig())


@pytest.mark.parametrize("extra, expected", [
    ({"reward_extra_info": {"acc": 1.0}, SHUFFLED_KEY: {"video": True, "planned": 1, "acc": [0.0]}},
     Member("u", 1.0, 0, video=True, shuffled_planned=1, shuffled_acc=(0.0,))),
    ({"reward_extra_info": {"acc": 1.0}, SHUFFLED_KEY: {"video": True, "planned": 2, "acc": []}},
     Member("u", 1.0, 0, video=True, shuffled_planned=2)),
    ({"reward_extra_info": {"acc": 1.0}}, Member("u", 1.0, 0)),  # T-GRPO off: no key
    ({"reward_extra_info": {"acc": 1.0}, ERROR_KEY: "decode_error", SHUFFLED_KEY: {"video": True, "planned": 0,
                                                                                   "acc": []}},
     Member("u", 1.0, 0, aborted=True, video=True)),
])
def test_member_reads_the_shuffled_field(extra, expected):
    assert member_of("u_0_0", {}, extra) == expected


def test_settings_defaults_quote_the_released_values():
    t = reward_config({"reward": {"videorft": {}}}).temporal
    assert (t.enable, t.alpha, t.mu, t.n_shuffled, t.acc_threshold, t.max_response_length) == \
        (False, 0.3, 0.8, None, 0.1, None)


@pytest.mark.parametrize("bad", [{"n_shuffled": -1}, {"max_response_length": 0}, {"mu": -0.5}, {"alpa": 1.0}])
def test_bad_settings_fail_naming_the_key(bad):
    with pytest.raises(ConfigError, match="temporal"):
        reward_config({"reward": {"videorft": {"temporal": bad}}})


@pytest.fixture(scope="module")
def compose():
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    def run(*overrides: str):
        with initialize_config_module("verl.trainer.config", version_base=None):
            return hydra_compose("ppo_trainer", overrides=list(overrides))
    return run


@pytest.mark.parametrize("overrides, n, response", [
    (["+recipe=videorft_tgrpo"], 8, 1024),  # the paper recipe with T-GRPO on
    (["+recipe=[videorft_tgrpo,videorft_cpu]"], 4, 32),  # CPU sizes kept (videorft_cpu last)
    (["+recipe=videorft_cpu", "++reward.videorft.temporal.enable=true"], 4, 32),
])
def test_recipe_turns_it_on(compose, overrides, n, response):
    cfg = compose(*overrides)
    t = reward_config(cfg).temporal
    assert t.enable and t.mu == 0.8 and t.alpha == 0.3
    assert (cfg.actor_rollout_ref.rollout.n, cfg.data.max_response_length) == (n, response)
