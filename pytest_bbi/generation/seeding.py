"""Seed derivation: every random draw is a pure function of the run seed and what it is for."""

from __future__ import annotations

import hashlib

ROLES = ("teacher", "student", "judge")
_SEED_BITS = 63


def derive_seed(run_seed: int, purpose: str, text: str = "", index: int = 0) -> int:
    """Derive an independent 63-bit seed for one draw.

    The teacher's and the student's draws for the same prompt use different ``purpose`` values
    (their roles), so they are independent: a shared seed would couple the two models and make
    them agree wherever their distributions overlap, hiding the difference the test looks for.

    Args:
        run_seed: the session's run seed (``--bbi-seed``).
        purpose: what the seed is for: a role (``"teacher"``, ``"student"``, ``"judge"``) or an
            internal use (``"order"``, ``"acquisition"``, ``"ties:<adversary>"``).
        text: the prompt, for per-prompt draws.
        index: the sample index (how many earlier draws of the same prompt this run made).

    Returns:
        A seed in [0, 2**63).
    """
    digest = hashlib.blake2b(digest_size=8, person=b"pytest-bbi-seed1")
    for part in (str(run_seed), purpose, text, str(index)):
        encoded = part.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return int.from_bytes(digest.digest(), "big") >> (64 - _SEED_BITS)
