"""Fault injection: a seam for making the sandbox misbehave the way networks and Telegram do."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Faults:
    """Shares (0..1) of requests that fail in each way; all zero means a healthy server."""

    server_errors: float = 0.0  # answered 502 Bad Gateway without being processed
    held: float = 0.0  # never answered (the client times out) and not processed
    dropped: float = 0.0  # processed, then the connection closes before the answer
    methods: frozenset[str] | None = None  # lower-case method names affected; None: all
    hold_seconds: float = 60.0  # how long a held request keeps the connection open
    seed: int | None = None
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def roll(self, method: str) -> str | None:
        """Decide the fate of one request: "error", "hold", "drop" or None for healthy."""
        if self.methods is not None and method.lower() not in self.methods:
            return None
        if not (self.server_errors or self.held or self.dropped):
            return None
        draw = self._random.random()
        for kind, share in (
            ("error", self.server_errors),
            ("hold", self.held),
            ("drop", self.dropped),
        ):
            if draw < share:
                self.counts[kind] += 1
                return kind
            draw -= share
        return None
