"""Unit vectors standing in for 128-d face encodings (no model needed)."""

import numpy as np


def one_hot(i: int) -> np.ndarray:
    """The ``i``-th basis vector (``i`` modulo 128): distance 0 to itself, sqrt(2) to others."""
    v = np.zeros(128, np.float32)
    v[i % 128] = 1.0
    return v


def random_unit(seed: int) -> np.ndarray:
    """One random unit vector, the same for the same ``seed``."""
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def random_units(rng: np.random.Generator, n: int, d: int = 128) -> np.ndarray:
    """``(n, d)`` random unit rows drawn from ``rng``."""
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)
