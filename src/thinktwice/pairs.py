"""Batches of (image, class) pairs: one image explained for several classes is several rows.

Work that does not depend on the class (a forward pass with every gate open) is
done once per distinct image; these helpers find the distinct images of a batch
and group rows so that each image's classes get their own backward pass.
"""

from __future__ import annotations

import torch


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
