"""Stand-ins for the greeter's parts (Habit 11: camera, detector, encoder and speech are passed
in): a clock, a speaker, a gallery, a capture, a late speech engine, an encoder backend that must
not be used; and :func:`forbid`, which makes any call to a function fail the test."""

import threading
import time

import numpy as np


def forbid(monkeypatch, owner, names, message):
    """Replace each of ``owner``'s ``names`` with a function that fails the test with
    ``message`` when called."""

    def forbidden(*args, **kwargs):
        raise AssertionError(message)

    for name in names:
        monkeypatch.setattr(owner, name, forbidden)


class FakeClock:
    def __init__(self, now=0.0):
        self.now = now

    def __call__(self):
        return self.now


class FakeSpeaker:
    def __init__(self):
        self.texts = []

    def say(self, text):
        self.texts.append(text)


class FakeGallery:
    """A live library's loop-facing side: ``database``, ``poll()`` and ``keep_face()``."""

    def __init__(self, database):
        self.database, self.polls, self.kept = database, 0, []

    def poll(self):
        self.polls += 1
        return [], []

    def keep_face(self, crop, encoding, visit_id, *, verdict="stranger", **details):
        self.kept.append((verdict, details.get("name"), visit_id))
        return True


class FakeAligner:
    """An aligner without dlib: a frontal face's 68 landmarks spread over the box, and the
    face "aligned" by cropping the box and resizing it to ``size``."""

    def __init__(self, size=96):
        self.size = size

    def landmarks(self, frame, box):
        x, y, w, h = (float(v) for v in box)
        points = np.zeros((68, 2))
        points[:, 0], points[:, 1] = x + w / 2, y + h / 2
        points[0], points[16] = (x, y + h / 2), (x + w, y + h / 2)  # jaw ends: symmetric
        points[36], points[45] = (x + 0.3 * w, y + 0.35 * h), (x + 0.7 * w, y + 0.35 * h)
        points[30] = points[33] = (x + w / 2, y + 0.6 * h)  # nose tip in the middle: yaw 0
        return points

    def align_landmarks(self, frame, landmarks):
        import cv2

        x0, y0 = landmarks.min(axis=0).astype(int)
        x1, y1 = landmarks.max(axis=0).astype(int) + 1
        region = np.asarray(frame)[max(0, y0) : y1, max(0, x0) : x1]
        if region.size == 0:
            region = np.zeros((8, 8, 3), np.uint8)
        return cv2.resize(region, (self.size, self.size))


class FakeCapture:
    """A ``cv2.VideoCapture`` that delivers ``frames``, then fails to read."""

    def __init__(self, frames):
        self.frames, self.released = list(frames), False

    def read(self):
        if not self.frames:
            return False, None
        return True, self.frames.pop(0)

    def release(self):
        self.released = True


class LateEngine:
    """A pyttsx3-like engine whose runAndWait returns before the WAV is written (seen for real)."""

    def __init__(self):
        self._callbacks, self._job = {}, None

    def connect(self, topic, callback):
        self._callbacks[id(callback)] = callback
        return id(callback)

    def disconnect(self, token):
        del self._callbacks[token]

    def save_to_file(self, text, path):
        self._job = (text, path)

    def runAndWait(self):
        _text, path = self._job

        def write_later():
            time.sleep(0.2)
            import wave

            with wave.open(path, "wb") as wav:
                wav.setnchannels(1), wav.setsampwidth(2), wav.setframerate(22050)
                wav.writeframes(np.full(22050, 1000, np.int16).tobytes())
            for callback in list(self._callbacks.values()):
                callback(name=None, completed=True)

        threading.Thread(target=write_later).start()


class UnusedBackend:
    """An encoder backend the run never gets to use (the video fails first)."""

    runtime = "none"
    weights_fingerprint = "unused"

    def cache_key(self):
        return "unused"

    def warm_up(self):
        pass

    def encode_batch(self, batch):
        raise AssertionError("nothing should be encoded")
