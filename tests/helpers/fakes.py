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
    def __init__(self, database):
        self.database, self.polls = database, 0

    def poll(self):
        self.polls += 1


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

    def cache_key(self):
        return "unused"

    def warm_up(self):
        pass

    def encode_batch(self, batch):
        raise AssertionError("nothing should be encoded")
