"""Class names of a classifier and lookup of a class by index or by name."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources

from thinktwice.errors import UnknownClassError
from thinktwice.options import TOP_SPECS


class ClassNames:
    """The names of a classifier's output classes, each with its synonyms.

    ``lookup`` accepts an index (int or digit string) or a name matched
    case-insensitively against every synonym ("tabby", "Golden Retriever").
    """

    def __init__(self, synonyms: Sequence[Sequence[str]], ids: Sequence[str] | None = None):
        if not synonyms:
            raise ValueError("a classifier needs at least one class name")
        self._synonyms = [tuple(s) for s in synonyms]
        self.ids = list(ids) if ids is not None else None
        self._by_name: dict[str, list[int]] = {}
        for index, names in enumerate(self._synonyms):
            for name in names:
                indices = self._by_name.setdefault(name.casefold(), [])
                if index not in indices:
                    indices.append(index)

    #: True for :meth:`numbered` names: the model's classes have no names of their own.
    unnamed = False

    @classmethod
    def numbered(cls, count: int) -> ClassNames:
        """Names ``class 0 .. class count-1`` for a model that has no names."""
        names = cls([[f"class {i}"] for i in range(count)])
        names.unnamed = True
        return names

    def __len__(self) -> int:
        return len(self._synonyms)

    def name(self, index: int) -> str:
        """The first (main) name of class ``index``."""
        return self._synonyms[self._check_index(index)][0]

    def synonyms(self, index: int) -> tuple[str, ...]:
        return self._synonyms[self._check_index(index)]

    def lookup(self, query: int | str) -> int:
        """The index of the class ``query`` names; a helpful error when none does."""
        if isinstance(query, bool):
            raise UnknownClassError(f"not a class: {query!r}")
        if isinstance(query, int):
            return self._check_index(query)
        text = str(query).strip()
        if text.lstrip("-").isdigit():
            return self._check_index(int(text))
        matches = self._by_name.get(text.casefold(), [])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            listed = ", ".join(f"{i} ({', '.join(self.synonyms(i))})" for i in matches)
            raise UnknownClassError(f"class name {text!r} is ambiguous: {listed}; pass an index")
        raise UnknownClassError(self._unknown_message(text))

    def search(self, query: str, limit: int = 20) -> list[tuple[int, str]]:
        """Classes matching ``query``: an index (``"285"``) finds that class; a name finds
        the classes with it as whole words in a synonym (``"cat"``: "tiger cat", not
        "catamaran"), else those containing it, else close names."""
        text = query.strip()
        if text.isdigit():
            index = int(text)
            return [(index, ", ".join(self.synonyms(index)))] if index < len(self) else []
        needle = text.casefold()
        whole_words = re.compile(rf"(?<!\w){re.escape(needle)}(?!\w)")
        for matches in (
            lambda name: whole_words.search(name) is not None,
            lambda name: needle in name,
        ):
            found = [
                (i, ", ".join(names))
                for i, names in enumerate(self._synonyms)
                if any(matches(n.casefold()) for n in names)
            ]
            if found:
                return found[:limit]
        return [(i, ", ".join(self.synonyms(i))) for i in self._close_indices(needle, limit)]

    def _check_index(self, index: int) -> int:
        if not 0 <= index < len(self):
            raise UnknownClassError(f"class index {index} is out of range 0..{len(self) - 1}")
        return index

    def _close_indices(self, text: str, limit: int) -> list[int]:
        close = difflib.get_close_matches(text.casefold(), self._by_name, n=limit, cutoff=0.6)
        indices: list[int] = []
        for name in close:
            indices.extend(i for i in self._by_name[name] if i not in indices)
        return indices

    def _unknown_message(self, text: str) -> str:
        if text.casefold().startswith("top") and text[3:].isdigit():
            return f"unknown target {text!r}; the top-k targets are {' and '.join(TOP_SPECS)}"
        if self.unnamed:
            return (
                f"unknown class {text!r}: this model's {len(self)} classes have no names "
                f"(class 0 .. class {len(self) - 1}); pass an index, or name them with "
                "thinktwice.wrap(..., class_names=[...])"
            )
        words = self.search(text, limit=5)
        if words and self._matches_words(text, words):
            listed = "; ".join(f"{i} {self.name(i)!r}" for i, _ in words)
            return f"no class is named {text!r}; classes with it in their names: {listed}"
        close = self._close_indices(text, 5)
        if not close:
            return f"unknown class {text!r}; try `thinktwice classes QUERY` to search names"
        listed = "; ".join(f"{i} {self.name(i)!r}" for i in close)
        return f"unknown class {text!r}; close names: {listed}"

    def _matches_words(self, text: str, found: list[tuple[int, str]]) -> bool:
        """Whether :meth:`search` found ``text`` inside names (rather than close names)."""
        needle = text.casefold()
        return any(needle in names.casefold() for _, names in found)


@cache
def imagenet_classes() -> ClassNames:
    """The 1000 ILSVRC-2012 classes in the standard index order."""
    text = (
        resources.files("thinktwice.models")
        .joinpath("data/imagenet_classes.json")
        .read_text(encoding="utf-8")
    )
    rows = json.loads(text)
    return ClassNames([names for _, names in rows], ids=[wnid for wnid, _ in rows])
