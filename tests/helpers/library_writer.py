"""A kiosk-like writer process for the store's fault tests:
``python -m tests.helpers.library_writer URL TAG N`` (with the repository root on the path).

Writes N rounds; each round = one batch of 20 events (one transaction) and one person with
one photo + encoding (one transaction). Prints ``ready`` after the first round. The crop and
encoding are synthetic (no model in the child, to start fast); the database is real.
"""

import sys

import numpy as np

from greeter.library.store import Store, event_record, utcnow
from tests.helpers.library import crop_png

BATCH = 20
KEY = "synthetic"


def synthetic_encoding(label: str) -> np.ndarray:
    """A unit vector chosen by ``label`` (no model in the child: it starts fast)."""
    rng = np.random.default_rng(abs(hash(label)) % 2**32)
    v = rng.normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def main(url, tag, rounds):
    store = Store(url)
    for i in range(int(rounds)):
        store.write_events(
            event_record(tag, "greeting", utcnow(), {"names": [f"{tag}-{i}"], "batch": i})
            for _ in range(BATCH)
        )
        crop = crop_png(i % 255)
        encoding = synthetic_encoding(f"{tag}-{i}")
        store.add_photo(f"{tag} person {i}", crop_png=crop, encoding=encoding, model_key=KEY)
        if i == 0:
            print("ready", flush=True)
    store.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
