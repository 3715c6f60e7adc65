"""The one channel from a training run to the outside world."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Reporter(Protocol):
    """Receives training events and answers whether the run should stop.

    The Django implementation persists each event and broadcasts it; the trainer never knows.
    """

    def on_event(self, type: str, data: dict) -> None:
        """Handles one event (`batch`, `epoch`, `sample`, `log`, `artifact`)."""

    def should_stop(self) -> bool:
        """Returns True once the run has been asked to stop (polled at every batch end)."""


class NullReporter:
    """A reporter that drops every event and never asks to stop."""

    def on_event(self, type: str, data: dict) -> None:
        pass

    def should_stop(self) -> bool:
        return False


class ListReporter:
    """A reporter that keeps events in memory; handy in tests, scripts and notebooks.

    Attributes:
        events: `(type, data)` tuples in the order they arrived.
        stop: set it to True to make `should_stop()` answer True.
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []
        self.stop = False

    def on_event(self, type: str, data: dict) -> None:
        self.events.append((type, data))

    def should_stop(self) -> bool:
        return self.stop

    def of_type(self, type: str) -> list[dict[str, Any]]:
        """Returns the data of every event of the given type, in order."""
        return [data for event_type, data in self.events if event_type == type]
