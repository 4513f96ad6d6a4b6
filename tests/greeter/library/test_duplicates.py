"""Probable duplicates: the same face under two names is found, different people are not,
one person's own photos are not, and a library too large to check says so."""

import numpy as np

from greeter.library.duplicates import DUPLICATE_DISTANCE, find_duplicates, library_duplicates
from tests.helpers.library import new_photo
from tests.helpers.vectors import random_unit, random_units


def test_one_face_under_two_names_is_found_and_nothing_else():
    rng = np.random.default_rng(0)
    vectors = random_units(rng, 200)  # 200 different people: far apart in 128 dimensions
    names = [f"p{i}" for i in range(200)]
    assert find_duplicates(names, vectors) == {}
    near = vectors[7] + 0.02 * random_unit(1)
    names += ["p7 again", "p3"]  # p3's second photo: one person, not a duplicate
    vectors = np.vstack([vectors, near / np.linalg.norm(near), vectors[3]])
    found = find_duplicates(names, vectors)
    assert set(found) == {"p7", "p7 again"}
    assert found["p7"]["p7 again"] == found["p7 again"]["p7"] < DUPLICATE_DISTANCE
    assert (
        find_duplicates([], np.zeros((0, 128))) == {} and find_duplicates(["a"], near[None]) == {}
    )


def test_library_duplicates_reads_the_most_used_model_key(sqlite_store, monkeypatch):
    from greeter.library import duplicates

    assert library_duplicates(sqlite_store) == {}
    same = new_photo("Ana Lima", 1, original=b"again")  # Ana's face, another file and name
    sqlite_store.add_photos([new_photo("Ana", 1), same, new_photo("Ben", 2),
                             new_photo("Old", 1, key="old model")])  # fmt: skip
    assert library_duplicates(sqlite_store) == {
        "Ana": {"Ana Lima": 0.0}, "Ana Lima": {"Ana": 0.0}}  # fmt: skip
    monkeypatch.setattr(duplicates, "MAX_PHOTOS", 2)
    assert library_duplicates(sqlite_store) is None  # too many to check: not checked
