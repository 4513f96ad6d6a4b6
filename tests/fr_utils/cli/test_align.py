"""facenet-align on real photos: output names, --all-faces, photos without a face, exit codes."""

import shutil

import cv2
import numpy as np
import pytest

from fr_utils.cli.align import main


@pytest.fixture(scope="module")
def inputs(shared_dir, tmp_path_factory):
    """photos/: two LFW photos, a sub-folder with the video PNG, a blank image, a non-image."""
    folder = tmp_path_factory.mktemp("photos")
    lfw = shared_dir / "data" / "lfw" / "images"
    shutil.copy(lfw / "AJ_Cook" / "AJ_Cook_0001.jpg", folder / "aj.jpg")
    shutil.copy(lfw / "Colin_Powell" / "Colin_Powell_0001.jpg", folder / "colin.jpg")
    (folder / "sub").mkdir()
    shutil.copy(
        shared_dir / "data" / "video" / "lin-manuel-miranda.png", folder / "sub" / "lmm.png"
    )
    cv2.imwrite(str(folder / "blank.png"), np.full((200, 200, 3), 90, np.uint8))
    (folder / "notes.txt").write_text("not a photo")
    return folder


def test_folder_one_face_each(inputs, tmp_path, capsys):
    out = tmp_path / "aligned"
    assert main([str(inputs), "--out", str(out)]) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["aj.png", "colin.png", "sub/lmm.png"]
    crop = cv2.imread(str(out / "aj.png"))
    assert crop.shape == (96, 96, 3)
    err = capsys.readouterr().err
    assert "blank.png: no face found" in err  # reported, not an error
    assert "notes.txt" not in err  # folders are searched for images only
    assert not list(out.rglob("*.tmp"))  # atomic writes leave nothing behind


def test_files_haar_size_and_all_faces(inputs, tmp_path):
    out = tmp_path / "aligned"
    lmm = inputs / "sub" / "lmm.png"
    two = np.hstack([cv2.imread(str(inputs / "aj.jpg")), cv2.imread(str(inputs / "colin.jpg"))])
    cv2.imwrite(str(tmp_path / "pair.png"), two)
    assert main([str(lmm), str(tmp_path / "pair.png"), "--out", str(out), "--all-faces"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["lmm_0.png", "pair_0.png", "pair_1.png"]
    assert main([str(lmm), "--out", str(out), "--detector", "haar", "--size", "128"]) == 0
    assert cv2.imread(str(out / "lmm.png")).shape == (128, 128, 3)


def test_unreadable_photo_is_an_error_but_the_others_are_done(inputs, tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "aligned"
    assert main([str(bad), str(inputs / "aj.jpg"), "--out", str(out)]) == 1
    assert (out / "aj.png").is_file()
    assert "broken.jpg" in capsys.readouterr().err


def test_same_output_name_twice_is_reported(inputs, tmp_path, capsys):
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(inputs / "colin.jpg", other / "aj.jpg")
    out = tmp_path / "aligned"
    assert main([str(inputs / "aj.jpg"), str(other / "aj.jpg"), "--out", str(out)]) == 1
    assert "already written" in capsys.readouterr().err


def test_tiny_photo_is_refused_as_no_face(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "icon.png"), np.full((16, 16, 3), 200, np.uint8))
    assert main([str(tmp_path / "icon.png"), "--out", str(tmp_path / "out")]) == 0
    assert "too small to hold a face" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [],  # no INPUT, no --out
        ["photo.jpg"],  # no --out
        ["{missing}", "--out", "{out}"],
        ["{photo}", "--out", "{out}", "--detector", "mtcnn"],
        ["{photo}", "--out", "{out}", "--size", "8"],
        ["{photo}", "--out", "{photo}"],  # --out is a file
    ],
)
def test_bad_arguments_exit_2(inputs, tmp_path, argv, capsys):
    values = {
        "missing": str(tmp_path / "nope.jpg"),
        "out": str(tmp_path / "out"),
        "photo": str(inputs / "aj.jpg"),
    }
    assert main([a.format(**values) for a in argv]) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
