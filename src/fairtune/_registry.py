"""A registry of named plug-ins that run in a set order (training objectives, data transforms, auditors)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries registered once by name, each with an `order`; `ordered()` lists them by it."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.entries: dict[str, tuple[int, T]] = {}

    def register(self, name: str, order: int) -> Callable[[T], T]:
        """A decorator that registers its target as `name`, placed by `order` among the others."""

        def deco(entry: T) -> T:
            if name in self.entries:
                raise ValueError(f"{self.what} {name!r} is registered twice")
            self.entries[name] = (order, entry)
            return entry

        return deco

    def ordered(self) -> list[tuple[str, T]]:
        return [(name, entry) for name, (_, entry) in sorted(self.entries.items(), key=lambda kv: kv[1][0])]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self.ordered())

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __getitem__(self, name: str) -> T:
        return self.entries[name][1]
