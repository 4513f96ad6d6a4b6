"""Fixtures for the greeter's tests: the real enroller, real photos, a fresh SQLite store."""

import pytest


@pytest.fixture(scope="session")
def enroller(weights_path):
    """The real enrollment pipeline (Haar + crop + the Keras model) for the test weights."""
    from greeter.library.enroller import make_enroller

    return make_enroller(weights_path)


@pytest.fixture(scope="session")
def photos(shared_dir, tmp_path_factory):
    """Real photos: LFW people (one face each), the two video stills; and two made from them:
    ``two_faces`` (two LFW photos side by side) and ``no_face`` (a smooth gradient, no face)."""
    import cv2
    import numpy as np

    lfw = shared_dir / "data" / "lfw" / "images"
    video = shared_dir / "data" / "video"
    made = tmp_path_factory.mktemp("made_photos")
    aaron = [lfw / "Aaron_Peirsol" / f"Aaron_Peirsol_000{i}.jpg" for i in (1, 2, 3)]
    gul = [lfw / "Abdullah_Gul" / f"Abdullah_Gul_000{i}.jpg" for i in (1, 2)]
    pair = np.hstack([cv2.imread(str(aaron[0])), cv2.imread(str(gul[0]))])
    cv2.imwrite(str(made / "two_faces.jpg"), pair)
    ramp = np.linspace(0, 255, 400, dtype=np.float32)[None, :, None]
    cv2.imwrite(str(made / "no_face.png"), np.broadcast_to(ramp, (300, 400, 3)).astype(np.uint8))
    return {
        "aaron": aaron,
        "gul": gul,
        "lin": video / "lin-manuel-miranda.png",
        "alex": video / "alex-lacamoire.png",
        "two_faces": made / "two_faces.jpg",
        "no_face": made / "no_face.png",
    }


@pytest.fixture
def sqlite_store(tmp_path):
    """A fresh face library in a SQLite file."""
    from greeter.library.store import Store

    with Store(f"sqlite:///{tmp_path / 'library.db'}") as opened:
        yield opened


@pytest.fixture
def face_frame(video_dir):
    """The Lin-Manuel Miranda still (BGR), one face."""
    import cv2

    frame = cv2.imread(str(video_dir / "lin-manuel-miranda.png"))
    assert frame is not None
    return frame
