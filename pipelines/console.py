"""Terminal output of the jobs: progress for long steps and a closing summary table."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["console", "print_summary", "print_warnings", "step"]

console = Console(stderr=True)


@contextmanager
def step(description: str) -> Iterator[None]:
    """Show a spinner with elapsed time while a step runs (silent when not a terminal)."""
    if not console.is_terminal:  # rich would still end the step with an empty line on stderr
        yield
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        progress.add_task(description, total=None)
        yield


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_summary(title: str, rows: Mapping[str, Any]) -> None:
    """A two-column summary (what, value) printed to stdout."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(key, _fmt(value))
    Console().print(table)


def print_warnings(messages: list[str]) -> None:
    """Each message as one `warning:` line on stderr."""
    for message in messages:
        console.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False, soft_wrap=True)
