"""What the argon2 hash cost allows on this machine: the bound the login target is measured by.

t = the mean of sequential `PasswordHasher.verify` calls (the server's code path, with the
parameters read back from the hash the server stored); the bound is cores / t logins per second.
The same verifies with `cores` in flight show what the cores really give on this memory-hard
hash.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from dataclasses import dataclass

from bench.load import BenchError


@dataclass(frozen=True)
class Argon2Params:
    variant: str
    time_cost: int
    memory_kib: int
    parallelism: int

    @classmethod
    def from_hash(cls, encoded: str) -> Argon2Params:
        """Parse `$argon2id$v=19$m=19456,t=2,p=1$salt$hash`."""
        match = re.match(r"^\$(argon2(?:id|i|d))\$v=\d+\$m=(\d+),t=(\d+),p=(\d+)\$", encoded)
        if match is None:
            raise BenchError(f"not an argon2 hash: {encoded[:20]}...")
        variant, m, t, p = match.groups()
        return cls(variant=variant, time_cost=int(t), memory_kib=int(m), parallelism=int(p))

    def describe(self) -> str:
        mib = self.memory_kib / 1024
        return (
            f"{self.variant} t={self.time_cost}, m={self.memory_kib} KiB ({mib:g} MiB), "
            f"p={self.parallelism}"
        )


@dataclass
class HashCost:
    params: Argon2Params
    samples: int
    seconds_per_hash: float
    cores: int
    bound_per_second: float  # cores / seconds_per_hash
    parallel_per_second: float  # measured with `cores` in flight


async def measure_hash_cost(
    params: Argon2Params, encoded: str, password: str, samples: int
) -> HashCost:
    """Sequential verifies (one in flight: single-threaded), then `cores` in flight."""
    from domain.config import Settings
    from domain.security import PasswordHasher

    hasher = PasswordHasher(
        Settings(
            argon2_time_cost=params.time_cost,
            argon2_memory_kib=params.memory_kib,
            argon2_parallelism=params.parallelism,
        )
    )
    for _ in range(3):  # warm-up: thread pool, memory
        ok, _ = await hasher.verify(password, encoded)
        if not ok:
            raise BenchError("the stored hash does not verify with the bench password")
    started = time.perf_counter()
    for _ in range(samples):
        await hasher.verify(password, encoded)
    per_hash = (time.perf_counter() - started) / samples
    cores = os.cpu_count() or 1

    async def lane(count: int) -> None:
        for _ in range(count):
            await hasher.verify(password, encoded)

    started = time.perf_counter()
    await asyncio.gather(*(lane(samples) for _ in range(cores)))
    parallel = cores * samples / (time.perf_counter() - started)
    return HashCost(params, samples, per_hash, cores, cores / per_hash, parallel)


def hash_table(cost: HashCost) -> str:
    return "\n".join(
        [
            "| argon2 (as stored by the server) | per verify, 1 thread | cores | "
            "bound = cores / t | measured, `cores` in flight |",
            "|---|---:|---:|---:|---:|",
            f"| {cost.params.describe()} | {1000 * cost.seconds_per_hash:.1f} ms "
            f"({cost.samples} samples) | {cost.cores} | **{cost.bound_per_second:,.1f} logins/s** "
            f"| {cost.parallel_per_second:,.1f} verifies/s |",
        ]
    )
