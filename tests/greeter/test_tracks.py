"""The face tracker: boxes in, tracks (visits) out. Pure logic with a fake clock."""

import pytest

from greeter.tracks import FaceTracker, iou


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_one_face_moving_is_one_track_and_a_second_face_is_another():
    clock = Clock()
    tracker = FaceTracker(clock=clock)
    ids = []
    for i in range(10):
        clock.now += 0.04
        boxes = [(100 + 5 * i, 100, 80, 80)]
        if i >= 5:
            boxes.append((400, 120, 70, 70))
        ids.append([t.id for t in tracker.update(boxes)])
    assert {row[0] for row in ids} == {1}
    assert {row[1] for row in ids[5:]} == {2}
    assert tracker.tracks[0].frames == 10 and tracker.tracks[1].frames == 5


def test_two_people_crossing_keep_their_tracks():
    """A near face (large) walks right, a far one (small) walks left; they cross in the
    middle of the frame, the near one in front (the far one is not detected while hidden)."""
    clock = Clock()
    tracker = FaceTracker(clock=clock)
    seen = {"near": set(), "far": set()}
    for i in range(30):
        clock.now += 0.1
        near = (50 + 20 * i, 200, 120, 120)
        far = (650 - 20 * i, 180, 60, 60)
        hidden = iou(near, far) > 0  # occluded by the near face
        boxes = [near] if hidden else [near, far]
        tracks = tracker.update(boxes)
        seen["near"].add(tracks[0].id)
        if not hidden:
            seen["far"].add(tracks[1].id)
    assert len(seen["near"]) == 1
    assert seen["near"].isdisjoint(seen["far"])
    assert len(seen["far"]) <= 2  # re-found after the crossing, or a new visit: never the near one


def test_a_fast_mover_between_slow_frames_stays_one_track():
    clock = Clock()
    tracker = FaceTracker(clock=clock)
    first = tracker.update([(100, 100, 80, 80)])[0]
    clock.now += 0.2
    moved = tracker.update([(120, 104, 82, 82)])[0]  # IoU ~0.55
    clock.now += 0.2
    jumped = tracker.update([(155, 112, 86, 86)])[0]  # IoU ~0.27, but the centre is close
    assert first is moved is jumped and jumped.frames == 3


def test_a_person_leaving_and_returning_is_a_new_visit():
    clock = Clock()
    tracker = FaceTracker(max_missed=3, max_gap=1.0, clock=clock)
    first = tracker.update([(100, 100, 80, 80)])[0]
    for _ in range(2):  # a blink: two frames without the face
        clock.now += 0.1
        assert tracker.update([]) == [] and tracker.ended == []
    clock.now += 0.1
    assert tracker.update([(102, 100, 80, 80)])[0] is first and first.resumed  # after a gap
    clock.now += 0.1
    assert not tracker.update([(102, 100, 80, 80)])[0].resumed
    for _ in range(4):  # gone
        clock.now += 0.1
        tracker.update([])
    assert tracker.ended == [first] and tracker.tracks == []
    clock.now += 60
    back = tracker.update([(100, 100, 80, 80)])[0]
    assert back is not first and back.id == first.id + 1


def test_a_slow_loop_ends_tracks_by_time_too():
    clock = Clock()
    tracker = FaceTracker(max_missed=100, max_gap=1.5, clock=clock)
    tracker.update([(100, 100, 80, 80)])
    clock.now += 2.0
    tracker.update([])
    assert len(tracker.ended) == 1


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="min_iou"):
        FaceTracker(min_iou=0)
    with pytest.raises(ValueError, match="max_missed"):
        FaceTracker(max_missed=-1)


def test_a_face_back_after_a_long_pause_is_a_new_visit():
    """A stream that dropped for a few seconds: the face in the same place is a new visit."""
    clock = Clock()
    tracker = FaceTracker(max_gap=1.5, clock=clock)
    first = tracker.update([(100, 100, 80, 80)])[0]
    clock.now += 5.0  # no frames at all meanwhile
    again = tracker.update([(100, 100, 80, 80)])[0]
    assert again is not first and tracker.ended == [first]
