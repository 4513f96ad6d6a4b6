"""A kiosk's side of the library, from its settings: who it is, where its own files live, and
the checks made before it joins a library. :func:`open_kiosk_library` is what ``greeter``
calls at start (:mod:`greeter.__main__`).

* **State folder** (``--state``, else ``$STATE_DIRECTORY`` as systemd's ``StateDirectory=``
  sets it, else ``$XDG_STATE_HOME/greeter``, else ``~/.local/state/greeter``): the kiosk's
  instance id and its event spool (:mod:`greeter.library.spool`).
* **Instance id**: a random id saved in the state folder at the first start
  (:func:`instance_id`), sent with every heartbeat, so two running kiosks with one name are
  told apart and reported (:meth:`greeter.library.store.Store.heartbeat`).
* **Which folder is synced**: into a SQLite library (the kiosk's own) the images folder is
  synced unless ``sync_folder`` is off. A PostgreSQL library is shared by every kiosk: a
  folder is pushed into it only with ``sync_folder`` on; ``--images DIR`` without it is
  refused, and a default ``images/`` that happens to be in the working folder is left out
  with a warning (:func:`folder_to_sync`).
* **A damaged SQLite file** found at start is moved aside (``library.db.corrupt-<time>``,
  nothing deleted) and the kiosk starts on a fresh library, its images folder synced into
  it, with an error logged and written as an ``error`` event naming the file and the
  recovery steps. Moving aside rather than refusing: a refused start under systemd is a
  dark door retried every 10 s, while the damaged file is kept whole either way (the
  admin tools, ``greeter-library`` and ``greeter-admin``, refuse it with the same steps).
* **Weights by name and provenance** (:func:`weights_label`), not a path.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from greeter.names import printable

log = logging.getLogger(__name__)
INSTANCE_FILE = "instance-id"


def default_state_dir() -> Path:
    """``$STATE_DIRECTORY`` (systemd; the first of several), else ``$XDG_STATE_HOME/greeter``,
    else ``~/.local/state/greeter`` (as ``greeter --help`` names them:
    :data:`greeter.config.STATE_SOURCES`)."""
    systemd = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd:
        return Path(systemd)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser() / "greeter"


def instance_id(state_dir) -> str:
    """This kiosk's persistent id: read from ``<state>/instance-id``, created (16 random hex
    digits) at the first start. Raises ``OSError`` when the folder cannot be written."""
    path = Path(state_dir) / INSTANCE_FILE
    try:
        text = path.read_text().strip()
        if text:
            return text[:64]
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    new = secrets.token_hex(8)
    partial = path.with_name(f".{INSTANCE_FILE}.{os.getpid()}")
    partial.write_text(new + "\n")
    os.replace(partial, path)
    log.info("This kiosk's instance id is %s (saved in %s).", new, path)
    return new


def weights_label(weights, encoder) -> str:
    """What the Kiosks page shows for the weights: ``nn4.small2.v1.h5 (221 official + 5
    re-learned)`` for FaceNet (the file's name and its tensors' provenance, never a path),
    the model's id for another encoder (``dlib-resnet-v1-unit``)."""
    if encoder.name != "facenet" or weights is None:
        return encoder.model_id
    name = Path(weights).name
    try:
        from fr_utils.weight_files import provenance

        found = provenance(weights)
    except (OSError, ValueError) as err:
        log.info("Provenance of %s not read: %s", weights, err)
        return name
    parts = [f"{len(found.official)} official"]
    if found.relearned:
        parts.append(f"{len(found.relearned)} re-learned")
    if found.unverified:
        parts.append(f"{len(found.unverified)} unverified")
    return f"{name} ({' + '.join(parts)})"


def folder_to_sync(settings, sources, store) -> Path | None:
    """The images folder this kiosk syncs into ``store``, or ``None`` (see the module
    docstring). Raises ``ValueError`` for ``--images`` into a PostgreSQL library without
    ``sync_folder``."""
    given = sources.get("images", "default") != "default"
    wanted = settings.sync_folder
    images = Path(settings.images)
    if wanted is False or not (given or images.is_dir()):
        return None
    if store.file is None and wanted is None:  # a shared (PostgreSQL) library
        if given:
            raise ValueError(
                f"--images {settings.images}: the library {store.url} is shared by every "
                "kiosk, so a folder synced into it changes every kiosk's people. Add "
                '--sync-folder (or "sync_folder": true in the config) to do that, or leave '
                "out --images."
            )
        log.warning(
            "%s is not synced into the shared library %s (a folder in the working directory "
            "is never pushed into a shared library unasked); set sync_folder to push it.",
            images.absolute(), store.url,
        )  # fmt: skip
        return None
    return images


def open_store(url):
    """The store at ``url``; a damaged SQLite file is moved aside first (-> ``(store, the
    damaged file's new path or None)``)."""
    from greeter.library.dialect import LibraryCorrupt
    from greeter.library.store import Store

    try:
        return Store(url), None
    except LibraryCorrupt as err:
        moved = _moved_aside(err)
    return Store(url), moved


def _moved_aside(err) -> Path:
    from greeter.library.dialect import recovery_steps
    from greeter.library.maintenance import move_aside

    if err.path is None:
        raise err
    moved = move_aside(err.path)
    log.error(
        "The library file %s is damaged (%s). It was moved aside to %s and this kiosk starts "
        "on a fresh library (its images folder is synced into it). To get the people and "
        "events back: %s",
        err.path, err.detail, moved, recovery_steps(err.path, damaged=moved),
    )  # fmt: skip
    return moved


def open_kiosk_library(settings, sources, encoder, aligner, stack):
    """The kiosk's face library, started (a :class:`greeter.library.LiveLibrary`), with
    every part released by ``stack``: the store (default: a SQLite file), its state folder's
    instance id and spool, the images folder synced when it should be, the heartbeat
    reporting the weights by name and provenance."""
    from greeter.library.dialect import LibraryCorrupt
    from greeter.library.enroller import make_enroller
    from greeter.library.live import LiveLibrary, default_kiosk_name
    from greeter.library.spool import EventSpool, SpoolBusy, spool_path
    from greeter.library.url import resolve_db_url
    from greeter.names import kiosk_name

    url, origin = resolve_db_url(settings.db)
    origin = sources["db"] if origin == "--db" and sources["db"] != "flag" else origin
    kiosk = kiosk_name(settings.kiosk or default_kiosk_name())
    state = Path(settings.state) if settings.state else default_state_dir()
    spool = instance = None
    try:
        instance = instance_id(state)
        spool = EventSpool(spool_path(state, kiosk))
        stack.callback(spool.close)  # closed by the library first; again is harmless
    except SpoolBusy:
        raise
    except OSError as err:
        instance = instance or secrets.token_hex(8)
        log.warning("State folder %s cannot be written (%s): instance id %s, and no event "
                    "spool (events wait in memory only).", state, err, instance)  # fmt: skip
    store, moved = open_store(url)
    stack.callback(lambda: store.close())
    log.info("face library: %s (from %s)", store.url, origin)  # password masked
    enroller = make_enroller(settings.weights, encoder=encoder, aligner=aligner)
    weights = settings.weights if encoder.name == "facenet" else None

    def live():
        return LiveLibrary(
            store,
            enroller.model_key,
            kiosk=kiosk,
            enroller=enroller,
            images_dir=folder_to_sync(settings, sources, store),
            interval=min(1.0, settings.watch_interval),
            status={
                "runtime": f"{encoder.name} ({encoder.runtime})",
                "weights": weights_label(weights, encoder),
            },
            keep_visitor_days=settings.keep_visitor_faces,
            keep_recognition_days=settings.keep_recognitions,
            instance=instance,
            spool=spool,
        )

    library = live()
    try:
        library.start()
    except LibraryCorrupt as err:  # damage the open did not meet: found while loading
        if moved is not None:
            raise
        store.close()
        moved = _moved_aside(err)
        store, _ = open_store(url)
        library = live()
        library.start()
    stack.callback(library.close)
    if moved is not None:
        library.events.write(
            "error",
            message=f"The library file was damaged and moved aside to {moved}; this kiosk "
            "started on a fresh library. See the kiosk's log for the recovery steps.",
        )
    log.info(
        "%d people enrolled for kiosk %s (%d photos)",
        len(library.database), printable(library.kiosk), len(library.database.names),
    )  # fmt: skip
    return library
