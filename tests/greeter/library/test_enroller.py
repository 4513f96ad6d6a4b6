"""Enrolment on the real pipeline (dlib detector, 68 landmarks, the FaceNet encoder) into a
real store: photos from paths and from bytes, refusals that name the photo and store nothing,
batches where one bad photo never stops the others, encodings computed for a new model key,
visitor faces assigned, and every photo decoded exactly once."""

import cv2
import numpy as np
import pytest

import fr_utils.preprocess
from fr_utils.faces import NoFaceFound
from fr_utils.preprocess import ImageError
from greeter.library.enroller import (
    PhotoIn,
    SeveralFaces,
    assign_visitor,
    encode_missing,
    enrol_photo,
    enrol_photos,
    png_bytes,
    read_photo,
)
from tests.helpers.library import CountingEnroller


def test_enrol_from_paths_and_bytes(store, enroller, photos):
    before = store.change_counter()
    ids = [enrol_photo(store, enroller, "Aaron  Peirsol", p) for p in photos["aaron"][:2]]
    gul = photos["gul"][0].read_bytes()
    enrol_photo(store, enroller, "Abdullah Gul", gul, label="gul.jpg")
    assert store.change_counter() == before + 3
    assert [(p.name, p.photos) for p in store.people()] == [
        ("Aaron Peirsol", 2),
        ("Abdullah Gul", 1),
    ]
    # the same file again for the same person is not a second photo
    assert enrol_photo(store, enroller, "Aaron Peirsol", photos["aaron"][0]) == ids[0]
    crop = cv2.imdecode(np.frombuffer(store.photo_crop(ids[0]), np.uint8), cv2.IMREAD_COLOR)
    assert crop.shape == (96, 96, 3)
    assert store.photo_original(ids[0]) == photos["aaron"][0].read_bytes()
    names, vectors, _ = store.load_encodings(enroller.model_key)
    assert sorted(names) == ["Aaron Peirsol", "Aaron Peirsol", "Abdullah Gul"]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize(
    "which, error, words",
    [
        ("no_face", NoFaceFound, "no face"),
        ("two_faces", SeveralFaces, "2 faces"),
        ("not_image", ImageError, "not a readable image"),
        ("missing", ImageError, "cannot be read"),
    ],
)
def test_refusals_store_nothing_and_name_the_file(store, enroller, photos, tmp_path, which,
                                                  error, words):  # fmt: skip
    paths = dict(photos, not_image=tmp_path / "notes.jpg", missing=tmp_path / "gone.jpg")
    (tmp_path / "notes.jpg").write_text("not a photo")
    before = store.change_counter()
    with pytest.raises(ValueError) as info:
        enrol_photo(store, enroller, "Someone New", paths[which])
    assert isinstance(info.value, error)
    assert str(paths[which]) in str(info.value) and words in str(info.value)
    assert store.people() == [] and store.photos() == []
    assert store.change_counter() == before


def test_one_bad_photo_does_not_stop_the_others(store, enroller, photos):
    batch = [
        PhotoIn("Abdullah Gul", read_photo(p), str(p))
        for p in (photos["gul"][0], photos["no_face"], photos["gul"][1])
    ]
    result = enrol_photos(store, enroller, batch)
    assert [label for label, _ in result.added] == [str(photos["gul"][0]), str(photos["gul"][1])]
    assert list(result.refused) == [str(photos["no_face"])]
    assert store.person("Abdullah Gul").photos == 2


def test_uploaded_bytes_refusals_name_the_upload(store, enroller, photos):
    for data, words in [
        (photos["no_face"].read_bytes(), "no face"),
        (photos["two_faces"].read_bytes(), "2 faces"),
        (b"GIF89a not really", "not a readable image"),
    ]:
        with pytest.raises(ValueError) as info:
            enrol_photo(store, enroller, "Uploader", data, label="upload.jpg")
        assert str(info.value).startswith("upload.jpg: ") and words in str(info.value)
    assert store.people() == []
    data = photos["gul"][0].read_bytes()
    photo_id = enrol_photo(store, enroller, "Uploader", data, label="u.jpg")
    assert store.photo_original(photo_id) == data


def test_each_photo_is_decoded_once(store, enroller, photos, monkeypatch):
    decoded = []
    real = fr_utils.preprocess._decode

    def counting(source, name, max_pixels):
        decoded.append(name)
        return real(source, name, max_pixels)

    monkeypatch.setattr(fr_utils.preprocess, "_decode", counting)
    paths = [*photos["aaron"], *photos["gul"]]
    result = enrol_photos(store, enroller, [PhotoIn("P", read_photo(p), str(p)) for p in paths])
    assert len(result.added) == len(paths) and len(decoded) == len(paths)


def test_encode_missing_computes_only_missing(store, enroller, photos):
    for p in photos["aaron"]:
        enrol_photo(store, enroller, "Aaron Peirsol", p)
    assert encode_missing(store, enroller) == (0, {})  # all there already
    other = CountingEnroller(enroller, model_key=enroller.model_key + "-v2")
    assert store.missing_encodings(other.model_key) == [p.id for p in store.photos()]
    computed, failed = encode_missing(store, other)
    assert (computed, failed, other.calls) == (3, {}, 3)
    assert encode_missing(store, other) == (0, {}) and other.calls == 3
    a = store.load_encodings(enroller.model_key)[1]
    b = store.load_encodings(other.model_key)[1]
    np.testing.assert_allclose(a, b, atol=1e-4)  # re-aligned from the stored originals


def test_assign_visitor_reuses_its_encoding_and_adds_the_enrollers(store, enroller, photos):
    face = enroller.enroll(photos["alex"], "alex")
    visitor = store.keep_visitor(
        "lobby", png_bytes(face.crop), face.encoding, "v1", days=7, model_key="kiosk-key"
    )
    photo_id = assign_visitor(store, enroller, visitor, "Alex Lacamoire")
    assert store.photos("Alex Lacamoire")[0].id == photo_id
    np.testing.assert_allclose(store.load_encodings("kiosk-key")[1][0], face.encoding, atol=1e-6)
    assert len(store.load_encodings(enroller.model_key)[0]) == 1  # encoded from its crop
    assert store.visitors() == []
