"""The guesses and TODOs of ``cjm init``: what each rests on, collected while the files are built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Guess:
    """One guess about a source (or the project): what, the value chosen, and the evidence."""

    source: str
    key: str
    value: str
    evidence: str


@dataclass(frozen=True)
class Todo:
    """A place the guesses could not fill: the written file, the key and what to do."""

    file: str
    key: str
    message: str


class Notes:
    """Collects the guesses and TODOs while the documents are built."""

    def __init__(self) -> None:
        self.guesses: list[Guess] = []
        self.todos: list[Todo] = []

    def guess(self, source: str, key: str, value: Any, evidence: str) -> str:
        self.guesses.append(Guess(source, key, str(value), evidence))
        return evidence

    def todo(self, file: str, key: str, message: str) -> str:
        """Record a TODO and return the comment text that marks it in ``file``."""
        self.todos.append(Todo(file, key, message))
        return f"TODO: {message}"
