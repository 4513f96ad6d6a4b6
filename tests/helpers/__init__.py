"""What the tests share, imported as ``from tests.helpers.<module> import ...`` (the repository
root is on ``sys.path``: ``pythonpath`` in pyproject.toml's pytest settings). Fixtures live in the
conftest.py files; these modules hold plain code (and the PostgreSQL plugin).

* ``needs``: the rule for a missing data set, server or browser: skipped locally, a failure
  under ``CI=true``.
* ``postgres``: a real PostgreSQL server (fixtures ``postgres_server`` and ``postgres_url``).
* ``processes``: ``python -c``/``-m`` runs, the real greeter and ``greeter-library`` as
  subprocesses, their environment.
* ``library_writer``: a kiosk-like writer process (``python -m tests.helpers.library_writer``).
* ``library``: finished photos and crops for the store, a counting enroller.
* ``servers``: local servers on 127.0.0.1 (static files, an MJPEG stream) and free ports.
* ``fakes``: a clock, speaker, gallery, capture, speech engine and encoder backend; ``forbid``.
* ``vectors``: unit vectors standing in for encodings.
* ``images``: image files made by the tests (grey photos, PNG checks, a decompression bomb).
* ``kiosk``: a greeter set up to work here without camera, speaker or shared data (a video, WAV
  files, a SQLite library, an impostor curve): for ``greeter doctor`` and start-up tests.
* ``weights``: weight folders linking to the shared CSV files.
* ``waiting``: bounded waits.
* ``admin``: the admin page's test client, its login and CSRF token.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the repository root (the checkout under test)
