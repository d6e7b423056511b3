"""Progress of a long job, stage by stage (reading, featurizing each partition, merging).

Jobs report through the small `Progress` protocol, so they run the same without a
terminal; `TerminalProgress` draws a rich bar on stderr only when stderr is a terminal
(never in tests or pipes, whose output stays clean).
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

import rich.progress as rp

from pipelines.console import console

__all__ = ["NoProgress", "Progress", "TerminalProgress"]


class Progress(Protocol):
    def stage(self, description: str, total: int | None) -> None:
        """Start a stage of `total` units (None: unknown)."""

    def advance(self, amount: int = 1) -> None:
        """Count `amount` units of the current stage as done."""


class NoProgress:
    def stage(self, description: str, total: int | None) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass


class TerminalProgress:
    """One bar per stage, each left complete on screen when the next starts."""

    def __init__(self) -> None:
        self._bars = rp.Progress(
            rp.TextColumn("{task.description}"),
            rp.BarColumn(),
            rp.MofNCompleteColumn(),
            rp.TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
        )
        self._task: rp.TaskID | None = None

    def __enter__(self) -> TerminalProgress:
        self._bars.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._bars.stop()

    def stage(self, description: str, total: int | None) -> None:
        if self._task is not None:
            task = self._bars.tasks[-1]
            self._bars.update(self._task, total=task.completed)  # an estimate was the total: close it
        self._task = self._bars.add_task(description, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._bars.advance(self._task, amount)
