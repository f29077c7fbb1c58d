"""Which process of a torchrun launch this is (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE); stdlib only, so
that training and batch upscaling read the launcher's variables the same way."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env() -> Ranks:
    """The launcher's view of this process; a plain run (or unusable variables) is rank 0 of 1."""
    env = os.environ
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local_rank = int(env.get("LOCAL_RANK", str(rank)))
        local_world = int(env.get("LOCAL_WORLD_SIZE", str(world)))
    except ValueError:
        return Ranks()
    if world <= 1 or not 0 <= rank < world:
        return Ranks()
    return Ranks(rank, world, local_rank, max(1, local_world))
