"""greeter.app: the camera loop and the recognizer, with a fake detector, encoder, gallery,
speaker and clock."""

import json

import numpy as np

from fr_utils.database import FaceDatabase
from greeter.app import Recognizer, run
from greeter.events import EventLog
from greeter.tracker import GreetingTracker
from tests.helpers.fakes import FakeClock, FakeGallery, FakeSpeaker
from tests.helpers.vectors import one_hot


def test_loop_greets_a_group_once_and_logs(tmp_path):
    """Fake detector + encoder: 'frames' are lists of person indices; each is a face."""
    database = FaceDatabase(
        ["Ana", "Ben", "Chloe_Z"], np.stack([one_hot(0), one_hot(1), one_hot(2)])
    )

    def detector(frame):
        return np.array([[10 * i, 0, 20, 20] for i in range(len(frame.ids))])

    encoder_calls = []

    def encoder(crops):
        encoder_calls.append(len(crops))
        return np.stack([one_hot(i) for i in current["ids"]])

    class Frame(np.ndarray):
        pass

    current = {}

    def frames():
        for ids in [[0, 1, 2]] * 4 + [[]] * 2 + [[5]] * 3:
            frame = np.zeros((60, 80, 3), np.uint8).view(Frame)
            frame.ids = ids
            current["ids"] = ids
            yield frame

    speaker, log = FakeSpeaker(), tmp_path / "log.jsonl"
    events = EventLog(log)
    gallery = FakeGallery(database)
    recognizer = Recognizer(detector, encoder, threshold=0.5)
    n = run(frames(), recognizer, gallery, GreetingTracker(3, 60, FakeClock()), speaker, events)
    events.close()
    assert n == 9 and gallery.polls == 9
    assert speaker.texts == ["Welcome Ana, Ben, and Chloe Z, have a nice day!"]
    assert encoder_calls == [3, 3, 3, 3, 1, 1, 1]  # one batch per frame with faces
    records = [json.loads(line) for line in log.read_text().splitlines()]
    greetings = [r for r in records if r["event"] == "greeting"]
    assert [g["frame"] for g in greetings] == [3]
    assert [r["event"] for r in records].count("unknown") == 1  # person 5 is a stranger


def test_a_near_miss_is_neither_greeted_nor_an_unknown_visitor(tmp_path):
    """Just over the threshold: most often an enrolled person in a poor frame. Only faces
    beyond threshold + UNSURE_MARGIN are logged (and kept) as unknown visitors."""
    from greeter.app import UNSURE_MARGIN, Face

    class Recorded:
        threshold = 0.8

        def __init__(self, distance):
            self.distance = distance

        def __call__(self, frame, database):
            crop = np.zeros((96, 96, 3), np.uint8)
            return [
                Face((0, 0, 50, 50), "ana", self.distance, self.distance <= 0.8, crop, one_hot(0))
            ]

    kept = []

    class Library(FakeGallery):
        def keep_visitor(self, crop, encoding, visit_id):
            kept.append(visit_id)

    for distance, unknown in ((0.8 + UNSURE_MARGIN / 2, 0), (0.8 + 2 * UNSURE_MARGIN, 1)):
        log, speaker = tmp_path / f"{distance}.jsonl", FakeSpeaker()
        events = EventLog(log)
        tracker = GreetingTracker(3, 60, FakeClock())
        run(iter([np.zeros((60, 60, 3), np.uint8)] * 5), Recorded(distance), Library(None),
            tracker, speaker, events)  # fmt: skip
        events.close()
        records = [json.loads(line)["event"] for line in log.read_text().splitlines()]
        assert speaker.texts == [] and records.count("unknown") == unknown, distance
    assert len(kept) == 1  # the stranger's face only, once for the visit


def test_recognizer_aligns_from_the_frame_it_was_given():
    frame = np.zeros((100, 100, 3), np.uint8)
    frame[20:60, 20:60] = 200
    seen = []
    rec = Recognizer(
        lambda f: np.array([[20, 10, 40, 40]]),
        lambda crops: seen.extend(crops) or np.stack([one_hot(0)]),
        threshold=0.5,
    )
    faces = rec(frame, FaceDatabase(["a"], one_hot(0)[None]))
    assert [(f.box, f.name, f.distance, f.known) for f in faces] == [
        ((20, 10, 40, 40), "a", 0.0, True)
    ]
    assert seen[0].shape == (96, 96, 3) and seen[0].max() == 200  # warped from this frame
    assert faces[0].crop is seen[0]  # kept with the face (for visitor faces)
    np.testing.assert_array_equal(faces[0].encoding, one_hot(0))
    assert rec(frame, FaceDatabase())[0].known is False  # empty database: nobody is known
