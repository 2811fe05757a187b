"""The sink protocol: what the engine calls on each sink."""
from __future__ import annotations


class Sink:
    """Base class (optional: any object with ``write`` works)."""

    name = "sink"

    def open(self, info: dict) -> None:
        """Called once before the first packet with facts about the run."""

    def write(self, packet) -> None:
        raise NotImplementedError

    def tick(self) -> None:
        """Called after every packet and when idle; do periodic work here."""

    def close(self) -> None:
        """End of stream: flush and save."""
