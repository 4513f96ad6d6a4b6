"""Face library: start-up, event writes/s, add-to-visible latency; SQLite and PostgreSQL.

    python bench/bench_library.py [--sizes 1000 100000] [--pg-url URL | --no-pg] [--weights W]

* Start-up: a LiveLibrary loading N photos' encodings (synthetic random unit vectors) into
  memory, vs the naive way: re-encoding every photo at start (per-face encode time of the
  real model, measured here on 64 faces and multiplied by N; skipped with --no-model).
* Event writes/s: one transaction per event (naive) vs the LiveLibrary's batches.
* Add -> visible: from an ``add_photo`` commit by one Store to the photo being in another
  Store's LiveLibrary database (poll interval 1 s).
Without --pg-url the PostgreSQL server is started like the tests do (tests/helpers/postgres.py).
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from greeter.library import schema as s  # noqa: E402
from greeter.library.enroller import png_bytes  # noqa: E402
from greeter.library.live import LiveLibrary  # noqa: E402
from greeter.library.store import Store, event_record, utcnow  # noqa: E402

KEY = "bench"


def _unit(seed):
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def populate(store, n, chunk=10_000):
    """n people x 1 photo x 1 encoding, bulk-inserted (synthetic unit vectors)."""
    rng = np.random.default_rng(0)
    crop = png_bytes(np.zeros((96, 96, 3), np.uint8))
    now = utcnow()
    with store.engine.begin() as conn:
        for start in range(0, n, chunk):
            ids = range(start + 1, min(n, start + chunk) + 1)
            conn.execute(
                insert(s.people), [{"id": i, "name": f"p{i}", "created": now} for i in ids]
            )
            conn.execute(insert(s.photos), [
                {"id": i, "person_id": i, "sha256": f"{i:064x}", "original": None,
                 "crop_png": crop, "source": "upload", "created": now} for i in ids])  # fmt: skip
            vectors = rng.normal(size=(len(ids), 128)).astype("<f4")
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            conn.execute(insert(s.encodings), [
                {"photo_id": i, "model_key": KEY, "vector": v.tobytes()}
                for i, v in zip(ids, vectors)])  # fmt: skip
        if store.dialect == "postgresql":  # explicit ids: move the sequences past them
            for table in ("people", "photos"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n})")
        store._bump(conn)


def bench_startup(url, n, encode_s):
    with Store(url) as store:
        t = time.perf_counter()
        populate(store, n)
        fill = time.perf_counter() - t
    import fr_utils.database  # noqa: F401 - imports TensorFlow, loaded with the model anyway

    with Store(url) as store:  # a fresh process-like start: new engine, cold connection
        t = time.perf_counter()
        live = LiveLibrary(store, KEY, kiosk="bench").load()
        load = time.perf_counter() - t
        assert len(live.database.names) == n
    naive = f"{encode_s * n:8.1f} s (re-encode, extrapolated)" if encode_s else "(--no-model)"
    ratio = f" ratio {encode_s * n / load:6.0f}x" if encode_s else ""
    print(f"  start-up {n:>7} photos: load {load:6.2f} s   naive {naive}{ratio}   "
          f"[bulk fill {fill:.1f} s]")  # fmt: skip


def bench_events(url, n_single=300, n_batch=5000):
    with Store(url) as store:
        t = time.perf_counter()
        for i in range(n_single):
            store.write_event("bench", "greeting", names=["a"], frame=i)
        single = n_single / (time.perf_counter() - t)
        records = [event_record("bench", "greeting", utcnow(), {"names": ["b"], "frame": i})
                   for i in range(n_batch)]  # fmt: skip
        t = time.perf_counter()
        for start in range(0, n_batch, 500):
            store.write_events(records[start : start + 500])
        batched = n_batch / (time.perf_counter() - t)
    print(
        f"  events/s: one transaction each {single:8.0f}   batched (LiveLibrary) "
        f"{batched:8.0f}   ratio {batched / single:.1f}x"
    )


def bench_visibility(url, rounds=5):
    crop = png_bytes(np.zeros((96, 96, 3), np.uint8))
    with Store(url) as admin, Store(url) as kiosk:
        live = LiveLibrary(kiosk, KEY, kiosk="bench", interval=1.0).start()
        times = []
        try:
            for i in range(rounds):
                time.sleep(0.37 * i % 1.0)  # land at different points of the poll cycle
                admin.add_photo(f"new {i}", crop_png=crop, encoding=_unit(i), model_key=KEY)
                t = time.perf_counter()
                while f"new {i}" not in live.database:
                    time.sleep(0.005)
                times.append(time.perf_counter() - t)
        finally:
            live.close()
    print(
        f"  add -> visible in another kiosk: median {statistics.median(times):.2f} s, "
        f"max {max(times):.2f} s over {rounds} adds (goal <= 2 s)"
    )


def encode_seconds_per_face(weights):
    """The greeter's encoder (fr_utils.encoding.make_encoder: its runtime, flip-averaged)."""
    from fr_utils.encoding import make_encoder

    encoder = make_encoder(weights)
    encoder.warm_up()
    faces = np.random.default_rng(0).integers(0, 255, (64, 96, 96, 3), dtype=np.uint8)
    t = time.perf_counter()
    encoder(list(faces))
    return (time.perf_counter() - t) / len(faces)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    p.add_argument("--pg-url", help="an EMPTY PostgreSQL database (default: start a server)")
    p.add_argument("--no-pg", action="store_true")
    p.add_argument("--no-model", action="store_true", help="skip the naive re-encode figure")
    p.add_argument("--weights", help="weights for the naive figure (default $FACENET_WEIGHTS)")
    args = p.parse_args(argv)
    encode_s = None if args.no_model else encode_seconds_per_face(args.weights)
    if encode_s:
        print(
            f"model: {encode_s * 1000:.1f} ms per face encoded "
            "(batches of 64; detection + alignment extra)"
        )
    server = None
    engines = [("sqlite", None)]
    if not args.no_pg:
        engines.append(("postgresql", args.pg_url))
    tmp = Path(tempfile.mkdtemp(prefix="bench-library-"))
    try:
        for engine, pg_url in engines:
            print(f"{engine}:")
            for n in args.sizes:
                if engine == "sqlite":
                    url = f"sqlite:///{tmp / f'start-{n}.db'}"
                else:
                    if pg_url is None and server is None:
                        server = _start_postgres()
                    url = pg_url or server.url(server.create_database())
                bench_startup(url, n, encode_s)
            url = f"sqlite:///{tmp / 'events.db'}" if engine == "sqlite" else (
                server.url(server.create_database()) if server else pg_url)  # fmt: skip
            bench_events(url)
            bench_visibility(url)
    finally:
        if server is not None:
            server.destroy()
    return 0


def _start_postgres():
    from tests.helpers.postgres import PostgresServer  # REPO is on sys.path (above)

    return PostgresServer()


if __name__ == "__main__":
    sys.exit(main())
