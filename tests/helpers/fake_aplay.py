"""A fake ``aplay`` for tests: a shell script put first on ``$PATH``.

* :func:`sink_aplay`: a working audio output: it copies each WAV it is given into ``sink``
  (``0001-<name>.wav``, ...) and appends its arguments to ``sink/args.txt``;
* :func:`failing_aplay`: prints ``errors`` on stderr and exits with ``status``, as the real
  one does without a sound card (``audio open error``) or without permission;
* :func:`sink_aplay` with ``failures=N``: the first N plays fail as without a sound card
  (a speaker plugged in later).
"""

import shlex
from pathlib import Path

NO_CARD = (
    "ALSA lib confmisc.c:855:(parse_card) cannot find card '0'\n"
    "ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM default\n"
    "aplay: main:831: audio open error: No such file or directory"
)  # the real aplay 1.2.8 on a machine with no sound card (this one)


def _script(folder: Path, body: str) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "aplay"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    folder.chmod(0o755)
    return path


def sink_aplay(folder: Path, sink: Path, failures: int = 0) -> Path:
    """Write ``folder/aplay`` that copies the WAV it plays (its last argument) into ``sink``;
    its first ``failures`` calls fail instead (:data:`NO_CARD`, status 1)."""
    sink = Path(sink)
    sink.mkdir(parents=True, exist_ok=True)
    sink.chmod(0o777)  # the kiosk's own user plays through it too
    s = shlex.quote(str(sink))
    return _script(
        folder,
        f'echo "$*" >> {s}/args.txt\n'
        f"if [ $(wc -l < {s}/args.txt) -le {failures} ]; then\n"
        f"cat >&2 <<'EOF'\n{NO_CARD}\nEOF\nexit 1\nfi\n"
        'for last in "$@"; do :; done\n'
        f"n=$(ls {s} | grep -c '\\.wav$')\n"
        f'cp "$last" {s}/$(printf %04d $((n + 1)))-$(basename "$last")\n',
    )


def failing_aplay(folder: Path, errors: str = NO_CARD, status: int = 1) -> Path:
    """Write ``folder/aplay`` that prints ``errors`` on stderr and exits with ``status``."""
    return _script(folder, f"cat >&2 <<'EOF'\n{errors}\nEOF\nexit {status}\n")
