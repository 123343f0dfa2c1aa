"""The registration check inside a Ray worker, on the cluster ``ray.init()`` would join.

verl's trainer calls ``ray.init()`` without an address: Ray then joins ``RAY_ADDRESS``, or the
cluster ``ray start`` recorded, or starts a local instance. The doctor does the same, says which,
and passes no resources when it attaches (Ray refuses ``num_cpus`` for an existing cluster). An
address nobody answers at is reported at once instead of after Ray's minute of retries.
"""

from __future__ import annotations

import os
import socket

from verl_videorft.doctor.check import Check, short
from verl_videorft.doctor.registrations import registration_report, report_check

CONNECT_TIMEOUT_S = 3.0


def ray_address() -> tuple[str | None, str]:
    """``(address, where it came from)`` of the cluster to join; ``None`` means start a local one.

    Raises ``ConnectionError`` when ``RAY_ADDRESS=auto`` and no cluster runs.
    """
    from ray._private.services import canonicalize_bootstrap_address  # what ray.init() itself uses

    env = os.environ.get("RAY_ADDRESS", "")
    return canonicalize_bootstrap_address(None), (f"RAY_ADDRESS={env}" if env else "recorded by `ray start`")


def unreachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """Why nothing answers at ``host:port`` (``ray://`` allowed), or ``None`` when something does."""
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return None
    except (OSError, ValueError) as exc:
        return short(exc)


def auth_hint() -> str:
    """Ray enables token authentication for a cluster it finds itself, not for an explicit address."""
    token = os.path.join(os.path.expanduser("~"), ".ray", "auth_token")
    if os.environ.get("RAY_ADDRESS", "auto") != "auto" and "RAY_AUTH_MODE" not in os.environ and os.path.isfile(token):
        return f" (a cluster started by ray.init() wants its auth token: set RAY_AUTH_MODE=token, token in {token})"
    return ""


def connect() -> tuple[bool, str]:
    """Join or start Ray as ``ray.init()`` would; ``(started here, what happened)``."""
    import ray

    if ray.is_initialized():
        return False, "using this process's Ray"
    address, source = ray_address()
    if address is None:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        return True, "started a local Ray instance (no cluster running)"
    error = unreachable(address)
    if error:
        raise ConnectionError(f"no Ray cluster answers at {address} ({source}): {error}")
    # no address argument: Ray resolves it again, exactly as in verl's ray.init()
    try:
        ray.init(log_to_driver=False, logging_level="ERROR")
    except ConnectionError as exc:
        raise ConnectionError(f"{exc}{auth_hint()}") from exc
    return True, f"attached to the running Ray cluster at {address} ({source})"


def ray_worker_report(timeout: float = 300) -> tuple[dict, str | None]:
    """``(registration report from inside a Ray worker, how Ray was reached)``; never raises."""
    import ray

    try:
        started, note = connect()
    except Exception as exc:  # noqa: BLE001 - ConnectionError, ValueError (bad address), RuntimeError
        return {"ok": False, "problems": [f"cannot reach Ray: {short(exc)}"]}, None
    try:
        return ray.get(ray.remote(num_cpus=0)(registration_report).remote(), timeout=timeout), note
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "problems": [f"ray worker check failed: {short(exc)}"]}, note
    finally:
        if started:
            ray.shutdown()


def check_ray_worker(timeout: float = 300) -> Check:
    report, note = ray_worker_report(timeout)
    return report_check("ray worker", report, note)
