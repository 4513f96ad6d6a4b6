"""greeter.app: the loop on tracked visits, with a fake detector, aligner, encoder, gallery,
speaker and clock: a group greeted once, a stranger reported once per visit, a near miss
neither greeted nor a stranger, each visit's budget of encodings, and the real aligner fed
the frame it was given."""

import json

import numpy as np

from fr_utils.database import FaceDatabase
from greeter.app import Recognizer, run
from greeter.events import EventLog
from greeter.visits import Cooldown, OpenSetThreshold, QualityGate, Rules, VisitJudge
from tests.helpers.fakes import FakeAligner, FakeClock, FakeGallery, FakeSpeaker
from tests.helpers.vectors import one_hot

ANYTHING = QualityGate(min_face=1, min_sharpness=0.0, max_yaw=90.0)  # every face votes


class Encoder:
    """Reads who a face is from its pixels (see :func:`_frames`): ``vectors[person]``."""

    def __init__(self, vectors):
        self.people, self.calls = list(vectors.values()), []

    def __call__(self, crops):
        self.calls.append(len(crops))
        return np.stack([self.people[int(crop.max()) - 1] for crop in crops])


def _frames(script, people):
    """Frames of 60x400 where each face ``(person, x)`` is a 40x40 square at ``x``, painted
    with the person's number (so the fake encoder knows who it is)."""
    for faces in script:
        frame = np.zeros((60, 400, 3), np.uint8)
        for person, x in faces:
            frame[0:40, x : x + 40] = people.index(person) + 1
        yield frame


def _detector(frame):
    columns = np.flatnonzero(frame[0, :, 0])
    starts = [x for x in columns if x == 0 or not frame[0, x - 1, 0]]
    return np.array([[x, 0, 40, 40] for x in starts]).reshape(-1, 4)


def _run(tmp_path, script, vectors, gallery, rules=None, threshold=0.5):
    rules = rules or Rules(min_frames=3, max_frames=8, max_ratio=0.9)
    clock, encoder = FakeClock(), Encoder(vectors)
    recognizer = Recognizer(_detector, encoder, FakeAligner(), rules=rules, gate=ANYTHING,
                            clock=clock)  # fmt: skip
    judge = VisitJudge(OpenSetThreshold(fixed=threshold), rules, Cooldown(60, clock))
    speaker, log = FakeSpeaker(), tmp_path / "log.jsonl"
    events = EventLog(log)
    frames = _frames(script, list(vectors))
    n = run(frames, recognizer, gallery, judge, speaker, events)
    events.close()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    return n, speaker, records, encoder.calls


def test_a_group_is_greeted_once_and_a_stranger_reported_once(tmp_path):
    vectors = {p: one_hot(i) for i, p in enumerate(["Ana", "Ben", "Chloe_Z", "stranger"])}
    database = FaceDatabase(["Ana", "Ben", "Chloe_Z"], np.stack([one_hot(i) for i in range(3)]))
    group = [("Ana", 0), ("Ben", 100), ("Chloe_Z", 200)]
    script = [group] * 5 + [[]] * 2 + [[("stranger", 300)]] * 4
    gallery = FakeGallery(database)
    n, speaker, records, calls = _run(tmp_path, script, vectors, gallery)
    assert n == 11 and gallery.polls == 12  # once before the start, then once per frame
    assert speaker.texts == ["Welcome Ana, Ben, and Chloe Z, have a nice day!"]
    assert calls == [3, 3, 3, 1, 1, 1, 1]  # decided visits are not encoded again
    greetings = [r for r in records if r["event"] == "greeting"]
    assert [(g["frame"], g["distances"], g["frames"]) for g in greetings] == [
        (3, [0.0, 0.0, 0.0], [3, 3, 3])
    ]
    unknown = [r for r in records if r["event"] == "unknown"]
    assert len(unknown) == 1 and unknown[0]["frames"] == 4  # reported when the video ended
    assert records[0]["event"] == "threshold" and records[0]["threshold"] == 0.5
    kinds = sorted(k[0] for k in gallery.kept)
    assert kinds == ["known", "known", "known", "stranger"]  # one face kept per visit


def test_a_near_miss_is_neither_greeted_nor_a_stranger(tmp_path):
    ana = one_hot(0)
    near = (ana * 0.86 + one_hot(1) * 0.51).astype(np.float32)  # ~0.55 from Ana
    near /= np.linalg.norm(near)
    database = FaceDatabase(["Ana", "Ben"], np.stack([ana, one_hot(2)]))
    gallery = FakeGallery(database)
    _, speaker, records, _ = _run(tmp_path, [[("near", 0)]] * 6, {"near": near}, gallery)
    assert speaker.texts == []
    kinds = [r["event"] for r in records]
    assert "unknown" not in kinds and kinds.count("unsure") == 1
    (unsure,) = [r for r in records if r["event"] == "unsure"]
    assert unsure["names"] == ["Ana"] and 0.5 < unsure["distances"][0] < 0.65
    assert gallery.kept[0][:2] == ("unsure", "Ana")


def test_a_visit_spends_at_most_its_budget(tmp_path):
    database = FaceDatabase(["Ana"], one_hot(0)[None])
    rules = Rules(min_frames=2, max_frames=4, max_ratio=1.0)
    gallery = FakeGallery(database)
    _, speaker, records, calls = _run(
        tmp_path, [[("stranger", 0)]] * 10, {"stranger": one_hot(3)}, gallery, rules=rules
    )
    assert calls == [1, 1, 1, 1]  # then only tracked
    assert [r["event"] for r in records].count("unknown") == 1 and speaker.texts == []


def test_the_cooldown_holds_across_visits(tmp_path):
    database = FaceDatabase(["Ana"], one_hot(0)[None])
    script = [[("Ana", 0)]] * 4 + [[]] * 12 + [[("Ana", 0)]] * 4  # leaves, comes back
    gallery = FakeGallery(database)
    _, speaker, _, calls = _run(tmp_path, script, {"Ana": one_hot(0)}, gallery)
    assert speaker.texts == ["Welcome Ana, have a nice day!"]  # the second visit: cooldown
    assert calls == [1, 1, 1, 1, 1, 1]  # each visit decided after 3 frames


def test_recognizer_aligns_from_the_frame_it_was_given():
    frame = np.zeros((100, 100, 3), np.uint8)
    frame[20:60, 20:60] = 200
    seen = []

    class Encoder:
        def make_aligner(self):
            from fr_utils.align import FaceAligner

            return FaceAligner()

        def __call__(self, crops):
            seen.extend(crops)
            return np.stack([one_hot(0)] * len(crops))

    recognizer = Recognizer(lambda f: np.array([[20, 10, 40, 40]]), Encoder(), gate=ANYTHING)
    (face,) = recognizer(frame)
    assert face.box == (20, 10, 40, 40) and face.fresh and face.visit.frames == 1
    assert seen[0].shape == (96, 96, 3) and seen[0].max() == 200  # warped from this frame
    record = face.visit.representative()
    assert record.crop is seen[0] and record.image.startswith(b"\xff\xd8")  # a JPEG


def test_someone_else_in_the_same_place_is_a_new_visit(tmp_path):
    """A queue at the door: Ana passes, and Ben steps into the same place a moment later, within
    the tracker's patience. The identity check when the face comes back splits the track: both
    are greeted. When Ana herself comes back, she stays one visit (one check encoding)."""
    database = FaceDatabase(["Ana", "Ben"], np.stack([one_hot(0), one_hot(1)]))
    vectors = {"Ana": one_hot(0), "Ben": one_hot(1)}
    script = [[("Ana", 100)]] * 4 + [[]] * 3 + [[("Ben", 100)]] * 4
    _, speaker, _, calls = _run(tmp_path, script, vectors, FakeGallery(database))
    assert speaker.texts == ["Welcome Ana, have a nice day!", "Welcome Ben, have a nice day!"]
    assert calls == [1, 1, 1, 1, 1, 1]  # Ben's first frame is the check that found him
    back = [[("Ana", 100)]] * 4 + [[]] * 3 + [[("Ana", 100)]] * 4
    _, speaker, _, calls = _run(tmp_path, back, vectors, FakeGallery(database))
    assert speaker.texts == ["Welcome Ana, have a nice day!"] and calls == [1, 1, 1, 1]
