"""``videorft doctor``'s checks: each returns a :class:`~.check.Check` and none raises.

- :mod:`.environment`    versions; decord and PyAV decode a clip; torchvision; the processor classes.
- :mod:`.registrations`  the plugin's verl registrations, in this process and in a fresh one.
- :mod:`.ray_worker`     the same inside a Ray worker, on the cluster ``ray.init()`` would join.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from verl_videorft.doctor.check import Check, short


def all_checks(ray: bool = True) -> list[Callable[[], Check]]:
    from verl_videorft.doctor import environment, ray_worker, registrations

    checks = [environment.check_decoders, environment.check_torchvision, environment.check_processor,
              registrations.check_fresh_process]
    return checks + ([ray_worker.check_ray_worker] if ray else [])


def run_checks(ray: bool = True) -> Iterator[Check]:
    """Every check in turn; a check that raises anyway is reported as failed, not as a traceback."""
    for check in all_checks(ray):
        try:
            yield check()
        except Exception as exc:  # noqa: BLE001
            yield Check(check.__name__.removeprefix("check_"), False, [f"the check itself failed: {short(exc)}"])
