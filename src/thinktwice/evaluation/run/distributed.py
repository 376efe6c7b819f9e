"""Scale-out on torchrun: which images this process takes, and a barrier between ranks.

Under ``torchrun --nproc_per_node=N`` every process gets ``RANK`` and
``WORLD_SIZE``; a gloo process group (CPU) gives the barrier that lets rank 0
summarise once every rank has written its results. Work is split by whole
batches (batch b goes to rank b mod N), so each image sees exactly the same
batch as in a single-process run and the results agree bit for bit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")
BARRIER_TIMEOUT = timedelta(hours=12)


@dataclass(frozen=True)
class Shard:
    """This process's place among ``world`` processes."""

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def take(self, items: Sequence[T]) -> list[T]:
        """Every ``world``-th item, starting at ``rank``."""
        return list(items[self.rank :: self.world])

    def barrier(self) -> None:
        """Wait until every rank arrives (no-op for one process)."""
        if self.world > 1:
            dist.barrier()


@contextmanager
def torchrun_shard(threads: int | None = None) -> Iterator[Shard]:
    """The shard of this process: a gloo group under torchrun, a single shard otherwise.

    ``threads`` sets torch's intra-op threads; by default a machine's cores are
    divided among the ranks torchrun started on it (``LOCAL_WORLD_SIZE``; on several
    nodes the world is larger than one machine's share).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    if threads is None and local > 1:
        threads = max(1, (os.cpu_count() or 1) // local)
    if threads is not None:
        torch.set_num_threads(threads)
    if world <= 1:
        yield Shard()
        return
    dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)
    try:
        yield Shard(dist.get_rank(), dist.get_world_size())
    finally:
        dist.destroy_process_group()
