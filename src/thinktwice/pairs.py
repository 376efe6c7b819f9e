"""(Image, class) pairs: what ``explain()`` and the evaluation runner explain, and how a
method's batch of pairs is laid out (one image explained for several classes is several rows).

A :class:`Pair` names an image by its row in the batch of images, the class, and whether
the class stands for a ground-truth label (the evaluation scores those for pointing and
faithfulness); a :class:`PairBatch` holds a batch's pairs and, once explained, each pair's
map, found by (row, class) rather than by counting positions. :func:`ranked_classes` is the
one ranking both callers read the top-k classes from.

Work that does not depend on the class (a forward pass with every gate open) is
done once per distinct image; :func:`distinct_rows` and :func:`occurrence_rounds` find the
distinct images of a batch and group rows so that each image's classes get their own
backward pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from thinktwice.models.state import eval_mode

if TYPE_CHECKING:
    from thinktwice.models.classifier import Classifier


@dataclass(frozen=True)
class Pair:
    """One (image, class) to explain: the image's ``row`` in the batch of images, the
    ``target`` class, and whether it is the ``representative`` of a ground-truth label."""

    row: int
    target: int
    representative: bool = False


@dataclass(frozen=True)
class PairBatch:
    """Pairs explained in one call of a method (``rows`` and ``targets`` are its arguments),
    and after that each pair's map (``maps[i]`` is ``pairs[i]``'s)."""

    pairs: tuple[Pair, ...]
    maps: np.ndarray | None = field(default=None, repr=False)
    _positions: dict[tuple[int, int], int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        positions = {(p.row, p.target): i for i, p in enumerate(self.pairs)}
        object.__setattr__(self, "_positions", positions)

    @classmethod
    def of(cls, pairs: Iterable[Pair]) -> PairBatch:
        """The pairs in order, each (row, target) once (the first flags it)."""
        unique: dict[tuple[int, int], Pair] = {}
        for pair in pairs:
            unique.setdefault((pair.row, pair.target), pair)
        return cls(tuple(unique.values()))

    @classmethod
    def explaining(
        cls, classes: Mapping[int, Sequence[int]], representatives: Mapping[int, Sequence[int]]
    ) -> PairBatch:
        """Per image row, its ``classes`` in order, flagged when among its
        ``representatives``."""
        return cls.of(
            Pair(row, c, c in representatives.get(row, ()))
            for row, targets in classes.items()
            for c in targets
        )

    def __len__(self) -> int:
        return len(self.pairs)

    def rows(self) -> torch.Tensor:
        """Each pair's image row, for ``inputs[batch.rows()]``."""
        return torch.tensor([p.row for p in self.pairs], dtype=torch.long)

    def targets(self) -> torch.Tensor:
        """Each pair's class, the ``target`` of ``method.attribute``."""
        return torch.tensor([p.target for p in self.pairs], dtype=torch.long)

    def index(self, row: int, target: int) -> int:
        """The position of the pair (row, target)."""
        return self._positions[(row, target)]

    def map_of(self, row: int, target: int) -> np.ndarray:
        """The map of the pair (row, target), once explained."""
        if self.maps is None:
            raise ValueError("the pairs are not explained yet")
        return self.maps[self.index(row, target)]

    def with_maps(self, maps: np.ndarray) -> PairBatch:
        """The same pairs with their maps, one per pair."""
        if len(maps) != len(self.pairs):
            raise ValueError(f"{len(maps)} maps for {len(self.pairs)} pairs")
        return replace(self, maps=maps)

    def chunks(self, size: int) -> Iterator[PairBatch]:
        """The pairs in batches of at most ``size``, in order."""
        for start in range(0, len(self.pairs), size):
            yield PairBatch(self.pairs[start : start + size])


def ranked_classes(model: Classifier, inputs: torch.Tensor) -> list[list[int]]:
    """Every class of each image, best first (the model in eval mode, no gradient): the
    top-k classes of an image are the first k, as many as the model has when it has fewer."""
    with eval_mode(model), torch.no_grad():
        return model(inputs).argsort(dim=1, descending=True).tolist()


def distinct_rows(inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(first row of each distinct image [U], which distinct image each row is [N]).

    A batch of (image, class) pairs repeats an image once per class; equal rows
    are found exactly (a cheap fingerprint proposes, ``torch.equal`` decides).
    """
    fingerprints = inputs.flatten(1).sum(dim=1).tolist()
    firsts: list[int] = []
    inverse: list[int] = []
    for row, fingerprint in enumerate(fingerprints):
        match = next(
            (
                u
                for u, first in enumerate(firsts)
                if fingerprints[first] == fingerprint and torch.equal(inputs[first], inputs[row])
            ),
            None,
        )
        if match is None:
            match = len(firsts)
            firsts.append(row)
        inverse.append(match)
    return torch.tensor(firsts, dtype=torch.long), torch.tensor(inverse, dtype=torch.long)


def occurrence_rounds(inverse: torch.Tensor) -> list[torch.Tensor]:
    """Rows grouped so that no distinct image appears twice in a group (k-th uses together)."""
    seen: dict[int, int] = {}
    rounds: list[list[int]] = []
    for row, image in enumerate(inverse.tolist()):
        k = seen.get(image, 0)
        seen[image] = k + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(row)
    return [torch.tensor(rows, dtype=torch.long) for rows in rounds]


def one_hot_seed(logits: torch.Tensor, rows: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """A backward seed selecting ``logits[rows[i], classes[i]]`` for every i."""
    seed = torch.zeros_like(logits)
    seed[rows, classes] = 1.0
    return seed
