"""Requests that arrive together are scored together: one featurizer call for all of them.

The featurizer is vectorized, and for one session most of its time goes to fixed costs per
call (many small numpy calls), so sessions scored in one call cost a fraction each. A
worker under load has requests arriving at every turn of its event loop; each queues its
session here and awaits it, and one callback scores the queue (`score_each`) once a turn
adds no new session (or the queue is full). While sessions wait the loop keeps reading and
validating the requests that arrive, so the worker is never idle for it, and nothing waits
on a timer: a lone request is scored one turn of the loop later.

Each request still gets exactly its own numbers (`shared_calls` keeps apart sessions that
could meet in one call) and its own error; a reload mid-queue changes nothing, as every
request is scored by the model it read.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from serving.columns import SessionInput
from serving.metrics import Metrics
from serving.served import ServedModel
from serving.session_scores import SessionScore, score_each

__all__ = ["ScoreBatcher"]


@dataclass(frozen=True, eq=False)
class _Queued:
    served: ServedModel
    session: SessionInput
    explain: bool
    top: int
    answer: asyncio.Future[SessionScore]


class ScoreBatcher:
    """Scores sessions of concurrent requests `limit` at a time, on the event loop's thread."""

    def __init__(self, metrics: Metrics, limit: int) -> None:
        self.metrics, self.limit = metrics, limit
        self._queue: list[_Queued] = []
        self._scheduled = False
        self._seen = 0  # sessions queued at the last turn

    async def score(
        self, served: ServedModel, session: SessionInput, explain: bool, top: int
    ) -> SessionScore:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[SessionScore] = loop.create_future()
        self._queue.append(_Queued(served, session, explain, top, answer))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._turn)
        return await answer

    def _turn(self) -> None:
        """Once per turn of the event loop while sessions wait. Each turn the loop reads its
        sockets, and the requests that brought queue their sessions on the next: while the
        queue keeps growing (and has room), wait one more turn so they share the call."""
        waiting = len(self._queue)
        if self._seen < waiting < self.limit:
            self._seen = waiting
            asyncio.get_running_loop().call_soon(self._turn)
            return
        self._seen = 0
        self._score_queue()

    def _score_queue(self) -> None:
        batch, self._queue = self._queue[: self.limit], self._queue[self.limit :]
        if self._queue:  # the rest on a later turn, so the loop serves I/O in between
            asyncio.get_running_loop().call_soon(self._turn)
        else:
            self._scheduled = False
        # A request whose client went away is not scored.
        batch = [queued for queued in batch if not queued.answer.cancelled()]
        for served in {id(q.served): q.served for q in batch}.values():
            mine = [queued for queued in batch if queued.served is served]
            try:
                outcomes = score_each(
                    served,
                    [q.session for q in mine],
                    [q.explain for q in mine],
                    [q.top for q in mine],
                    per_call=self.limit,
                )
            except Exception as exc:  # a bug, not bad input: every request of the call learns of it
                outcomes = [exc] * len(mine)
            self.metrics.batch_sessions.observe(len(mine))
            for queued, outcome in zip(mine, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    queued.answer.set_exception(outcome)
                else:
                    queued.answer.set_result(outcome)
