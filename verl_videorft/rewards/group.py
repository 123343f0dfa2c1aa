"""Rendezvous of one prompt's rollouts, so a reward manager can see its group.

Why this exists: verl 0.9.1 scores each trajectory as soon as it finishes (the agent loop calls
``RewardLoopWorker.compute_score`` on a *random* reward worker with that one sample), so no
manager ever receives a whole group. Each sample does carry its prompt's ``uid`` (the trainer
adds it before ``repeat(n)``), and all ``n`` rollouts of a prompt are in flight together. So each
``run_single`` joins a board under its ``uid`` and waits until the group is complete; the member
whose arrival completes it (the *leader*) computes the group-level terms once (one batched text
encoding for the semantic reward, the length bonus) and publishes them; the others read them.

Waiting costs nothing in a synchronous step (the step waits for the slowest rollout anyway).
A group that is still short after ``timeout_s`` (a failed rollout, a wrong expected size) is
closed with the members it has and counted; a member arriving after its group closed is scored
alone and counted. Across processes the board is one named async Ray actor; without Ray (tests,
a single process) it is an in-process object with the same methods.

    >>> import asyncio
    >>> board = GroupBoard()
    >>> async def member(i):
    ...     members, leader = await board.join("uid-1", f"s{i}", {"acc": i}, expected=2, timeout_s=5)
    ...     if not leader:
    ...         return await board.result("uid-1", f"s{i}", timeout_s=5)
    ...     results = {k: v["acc"] * 10 for k, v in members.items()}
    ...     await board.publish("uid-1", results)
    ...     return results[f"s{i}"]
    >>> async def main():
    ...     return await asyncio.gather(member(0), member(1))
    >>> asyncio.run(main())
    [0, 10]
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

BOARD_NAME = "videorft_group_board"
BOARD_NAMESPACE = "verl_videorft"
_CLOSED_TTL_S = 3600.0  # remember closed uids this long, so stragglers are recognised


@dataclass
class _Group:
    expected: int
    members: dict[str, Any] = field(default_factory=dict)
    complete: asyncio.Event = field(default_factory=asyncio.Event)
    published: asyncio.Event = field(default_factory=asyncio.Event)
    results: dict[str, Any] = field(default_factory=dict)
    leader_taken: bool = False
    fetched: int = 0


class GroupBoard:
    """Async rendezvous keyed by ``uid``; usable in-process or as a Ray actor body."""

    def __init__(self) -> None:
        self._groups: dict[str, _Group] = {}
        self._closed: dict[str, float] = {}
        self.counters: dict[str, int] = {"groups": 0, "incomplete": 0, "late": 0}

    async def join(self, uid: str, member: str, payload: Any, expected: int,
                   timeout_s: float) -> tuple[dict[str, Any], bool]:
        """Add a member; wait for the group; return ``(members, is_leader)``.

        A member whose group already closed gets ``({member: payload}, True)``: alone, it leads.
        """
        self._forget_old()
        if uid in self._closed:
            self.counters["late"] += 1
            return {member: payload}, True
        group = self._groups.get(uid)
        if group is None:
            group = self._groups[uid] = _Group(expected=max(1, int(expected)))
            self.counters["groups"] += 1
        group.members[member] = payload
        if len(group.members) >= group.expected:
            group.complete.set()
        try:
            await asyncio.wait_for(group.complete.wait(), timeout=timeout_s)
        except asyncio.TimeoutError:
            if not group.complete.is_set():
                self.counters["incomplete"] += 1
                group.complete.set()
        # No further joins: later arrivals of this uid are stragglers.
        self._closed.setdefault(uid, time.monotonic())
        leader = not group.leader_taken
        group.leader_taken = True
        return dict(group.members), leader

    async def publish(self, uid: str, results: dict[str, Any]) -> None:
        """The leader's group results, one value per member key (the leader keeps its own)."""
        group = self._groups.get(uid)
        # A straggler leading alone publishes for itself only: it must not touch the closed group
        # whose members may still be reading the real leader's results.
        if group is None or group.published.is_set() or not set(results) <= set(group.members):
            return
        group.results = dict(results)
        group.published.set()
        self._fetched(uid, group)

    async def result(self, uid: str, member: str, timeout_s: float) -> Any:
        """This member's published value (None if the leader never published in time)."""
        group = self._groups.get(uid)
        if group is None:
            return None
        try:
            await asyncio.wait_for(group.published.wait(), timeout=timeout_s)
        except asyncio.TimeoutError:
            return None
        value = group.results.get(member)
        self._fetched(uid, group)
        return value

    def _fetched(self, uid: str, group: _Group) -> None:
        group.fetched += 1
        if group.fetched >= len(group.members):  # everyone has its value: free the group
            self._groups.pop(uid, None)

    def stats(self) -> dict[str, int]:
        return {**self.counters, "open": len(self._groups)}

    def _forget_old(self) -> None:
        now = time.monotonic()
        for uid in [u for u, t in self._closed.items() if now - t > _CLOSED_TTL_S]:
            del self._closed[uid]
            self._groups.pop(uid, None)


class BoardClient:
    """Calls a :class:`GroupBoard` the same way whether it is local or a Ray actor handle."""

    def __init__(self, board: Any):
        self.board = board
        self.remote = hasattr(getattr(board, "join", None), "remote")

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        fn = getattr(self.board, method)
        return await (fn.remote(*args, **kwargs) if self.remote else fn(*args, **kwargs))


_CLIENTS: dict[bool, BoardClient] = {}


def get_board(use_ray: bool | None = None) -> BoardClient:
    """The named Ray board when Ray is initialised (reward workers), else one in-process board."""
    if use_ray is None:
        try:
            import ray

            use_ray = ray.is_initialized()
        except ImportError:
            use_ray = False
    if use_ray not in _CLIENTS:
        if use_ray:
            import ray

            # get_if_exists: the first reward worker creates it, every other one attaches.
            handle = ray.remote(GroupBoard).options(
                name=BOARD_NAME, namespace=BOARD_NAMESPACE, get_if_exists=True, num_cpus=0,
                max_concurrency=10_000).remote()
            _CLIENTS[True] = BoardClient(handle)
        else:
            _CLIENTS[False] = BoardClient(GroupBoard())
    return _CLIENTS[use_ray]


def reset_board() -> None:
    """Forget cached board clients (the next :func:`get_board` attaches or creates again)."""
    _CLIENTS.clear()
