"""An even sample of a stream of unknown length, kept in bounded memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class EvenSample(Generic[T]):
    """At most `limit` items of a stream, evenly spaced from its first: when full, every other
    one goes and from then on every other item is taken (then every fourth, ...)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.every, self.seen = limit, 1, 0
        self.items: list[T] = []

    def offer(self, make: Callable[[], T]) -> None:
        """The stream's next item, made by `make` only when it is kept."""
        if self.seen % self.every == 0:
            self.items.append(make())
            if len(self.items) >= self.limit:
                self.items, self.every = self.items[::2], self.every * 2
        self.seen += 1

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)
