"""A kiosk-like writer process for the fault tests: ``python library_writer.py URL TAG N``.

Writes N rounds; each round = one batch of 20 events (one transaction) and one person with
one photo + encoding (one transaction). Prints ``ready`` after the first round. The crop and
encoding are synthetic (no model in the child, to start fast); the database is real.
"""

import sys

import numpy as np

from greeter.library.enroller import Enrolled
from greeter.library.store import Store, event_record, utcnow

BATCH = 20


class SyntheticEnroller:
    model_key = "synthetic"

    def enroll(self, image, label):
        rng = np.random.default_rng(abs(hash(label)) % 2**32)
        v = rng.normal(size=128).astype(np.float32)
        return Enrolled(np.zeros((96, 96, 3), np.uint8), v / np.linalg.norm(v), 1)


def main(url, tag, rounds):
    store = Store(url)
    enroller = SyntheticEnroller()
    for i in range(int(rounds)):
        store.write_events(
            event_record(tag, "greeting", utcnow(), {"names": [f"{tag}-{i}"], "batch": i})
            for _ in range(BATCH)
        )
        image = np.full((120, 160, 3), i % 255, np.uint8)
        store.add_photo(f"{tag} person {i}", image, enroller, label=f"{tag}-{i}")
        if i == 0:
            print("ready", flush=True)
    store.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
