"""Data loaders on tiny folder / zip / csv fixtures, including every bad input."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fer.model.labels import CLASS_NAMES
from tests.conftest import face_png
from train.data import load_split, subsample


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def kaggle_files(val_dir: str = "validation", prefix: str = "", class_case=str.lower) -> dict[str, bytes]:
    """2 train and 1 validation image per class; image content encodes (split, class, i)."""
    files = {}
    for c, name in enumerate(CLASS_NAMES):
        for i in range(2):
            files[f"{prefix}train/{class_case(name)}/img_{i}.png"] = face_png(100 * c + i)
        files[f"{prefix}{val_dir}/{class_case(name)}/img_0.png"] = face_png(1000 + c)
    return files


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def load(source, split, cache):
    return load_split(source, split, cache_dir=cache, progress=False)


def test_folder_layout_with_capitalised_class_names(tmp_path, cache):
    root = write_tree(tmp_path / "data", kaggle_files(class_case=str.capitalize))
    train = load(root, "train", cache)
    assert train.images.shape == (14, 48, 48) and train.images.dtype == np.uint8
    assert train.class_counts() == [2] * 7
    val = load(root, "validation", cache)
    assert val.class_counts() == [1] * 7
    # Content follows its folder: validation 'sad' image is the one written for class 5.
    sad = val.images[val.labels == CLASS_NAMES.index("sad")][0]
    assert np.array_equal(sad, load_split_png(face_png(1000 + CLASS_NAMES.index("sad"))))


def load_split_png(data: bytes) -> np.ndarray:
    from train.data import decode_face

    return decode_face(data)[0]


@pytest.mark.parametrize("val_dir", ["val", "test"])
def test_val_or_test_folder_is_the_validation_split(tmp_path, cache, val_dir):
    root = write_tree(tmp_path / "data", kaggle_files(val_dir=val_dir))
    assert len(load(root, "validation", cache)) == 7


def test_layout_under_an_images_folder(tmp_path, cache):
    root = write_tree(tmp_path / "data", kaggle_files(prefix="images/"))
    assert len(load(root, "train", cache)) == 14


def test_zip_is_read_in_place_and_matches_the_folder(tmp_path, cache):
    files = kaggle_files()
    archive = write_zip(tmp_path / "faces.zip", files)
    folder = write_tree(tmp_path / "faces", files)
    before = set(tmp_path.iterdir())
    from_zip, from_folder = load(archive, "train", cache), load(folder, "train", cache)
    assert set(tmp_path.iterdir()) - before == {cache}  # nothing unpacked beside the archive
    assert np.array_equal(from_zip.images, from_folder.images)
    assert np.array_equal(from_zip.labels, from_folder.labels)


def test_zip_with_a_top_level_folder(tmp_path, cache):
    archive = write_zip(tmp_path / "faces.zip", kaggle_files(prefix="fer2013/"))
    assert len(load(archive, "validation", cache)) == 7


def fer_csv(rows: list[tuple[int, list[int] | str, str]], header: str = "emotion,pixels,Usage") -> str:
    lines = [header]
    for emotion, pixels, usage in rows:
        text = pixels if isinstance(pixels, str) else " ".join(map(str, pixels))
        lines.append(f"{emotion},{text},{usage}")
    return "\n".join(lines) + "\n"


@pytest.mark.filterwarnings("ignore:.*no images for class")  # tiny fixture: most classes are empty
def test_csv_usages_and_label_codes(tmp_path, cache):
    flat = list(range(48 * 48))
    pixels = [p % 256 for p in flat]
    path = tmp_path / "fer2013.csv"
    path.write_text(
        fer_csv(
            [(6, pixels, "Training"), (4, pixels, "Training"), (3, pixels, "PublicTest"), (0, pixels, "PrivateTest")]
        )
    )
    train = load(path, "train", cache)
    assert [CLASS_NAMES[i] for i in train.labels] == ["neutral", "sad"]  # CSV codes 6, 4
    assert train.images[0, 0, :3].tolist() == [0, 1, 2]
    assert [CLASS_NAMES[i] for i in load(path, "validation", cache).labels] == ["happy"]
    assert [CLASS_NAMES[i] for i in load(path, "test", cache).labels] == ["angry"]


@pytest.mark.filterwarnings("ignore:.*no images for class")
def test_csv_bad_rows_are_skipped_and_counted(tmp_path, cache):
    path = tmp_path / "fer2013.csv"
    path.write_text(fer_csv([(3, [1] * 2304, "Training"), (3, "1 2 3", "Training"), (9, [1] * 2304, "Training")]))
    with pytest.warns(UserWarning, match="skipped 2 unreadable"):
        data = load(path, "train", cache)
    assert len(data) == 1 and data.skipped == 2


def test_csv_with_wrong_columns_says_which(tmp_path, cache):
    path = tmp_path / "faces.csv"
    path.write_text("label,image\n3,1 2 3\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['emotion', 'pixels', 'Usage'\]"):
        load(path, "train", cache)


def test_missing_source(tmp_path, cache):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "nowhere", "train", cache)


def test_archive_without_a_recognisable_split(tmp_path, cache):
    archive = write_zip(tmp_path / "x.zip", {"photos/holiday/a.png": face_png(0)})
    with pytest.raises(ValueError, match="no 'train' split"):
        load(archive, "train", cache)


def test_unknown_class_folder_is_named(tmp_path, cache):
    files = kaggle_files()
    files["train/contempt/a.png"] = face_png(5)
    with pytest.raises(ValueError, match="'contempt' is not one of the 7 FER classes"):
        load(write_tree(tmp_path / "d", files), "train", cache)


def test_known_alias_is_mapped(tmp_path, cache):
    files = {k.replace("train/surprise/", "train/Surprised/"): v for k, v in kaggle_files().items()}
    assert load(write_tree(tmp_path / "d", files), "train", cache).class_counts()[CLASS_NAMES.index("surprise")] == 2


def test_empty_class_is_reported(tmp_path, cache):
    files = {k: v for k, v in kaggle_files().items() if not k.startswith("train/disgust/")}
    root = write_tree(tmp_path / "d", files)
    (root / "train" / "disgust").mkdir()
    with pytest.warns(UserWarning, match="no images for class\\(es\\) disgust"):
        data = load(root, "train", cache)
    assert data.class_counts()[CLASS_NAMES.index("disgust")] == 0


def test_corrupt_and_non_image_files_are_skipped_counted_and_reported_once(tmp_path, cache):
    files = kaggle_files()
    files["train/happy/truncated.jpg"] = face_png(1)[:40]
    files["train/happy/notes.txt"] = b"not an image"
    root = write_tree(tmp_path / "d", files)
    with pytest.warns(UserWarning, match="skipped 2 unreadable") as record:
        data = load(root, "train", cache)
    assert len([w for w in record if "unreadable" in str(w.message)]) == 1
    assert len(data) == 14 and data.skipped == 2
    assert sorted(Path(e).name for e in data.skipped_examples) == ["notes.txt", "truncated.jpg"]
    assert "2 unreadable files skipped" in data.summary()
    # The count survives the cache: a second load reports the same, silently.
    assert load(root, "train", cache).skipped == 2


def test_colour_and_wrong_size_images_are_converted_and_counted(tmp_path, cache):
    files = kaggle_files()
    files["train/happy/big_colour.png"] = face_png(7, size=96, mode="RGB")
    with pytest.warns(UserWarning, match="converted 1 image"):
        data = load(write_tree(tmp_path / "d", files), "train", cache)
    assert data.converted == 1 and data.images.shape == (15, 48, 48)


def test_cache_is_keyed_by_content(tmp_path, cache):
    root = write_tree(tmp_path / "d", kaggle_files())
    first = load(root, "train", cache)
    assert len(list(cache.glob("*.npz"))) == 1
    again = load(root, "train", cache)
    assert len(list(cache.glob("*.npz"))) == 1 and np.array_equal(first.images, again.images)
    (root / "train" / "happy" / "img_0.png").write_bytes(face_png(999))
    changed = load(root, "train", cache)
    assert len(list(cache.glob("*.npz"))) == 2
    assert not np.array_equal(first.images, changed.images)


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 cut short"])
def test_a_damaged_cache_is_decoded_again_with_a_warning(tmp_path, cache, damage):
    root = write_tree(tmp_path / "d", kaggle_files())
    first = load(root, "train", cache)
    [cached] = cache.glob("*.npz")
    cached.write_bytes(damage)
    with pytest.warns(UserWarning, match="is damaged; decoding .* again"):
        again = load(root, "train", cache)
    assert np.array_equal(first.images, again.images) and np.array_equal(first.labels, again.labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the cache is whole again: read without a word
        assert np.array_equal(load(root, "train", cache).images, first.images)


def test_subsample_is_stratified():
    from train.data import FerSplit

    labels = np.repeat(np.arange(7), [100, 10, 100, 200, 100, 100, 90])
    data = FerSplit(np.zeros((len(labels), 48, 48), np.uint8), labels, "x", "train")
    part = subsample(data, 70, seed=1)
    assert len(part) == 70
    assert part.class_counts() == pytest.approx([10, 1, 10, 20, 10, 10, 9], abs=1)


def test_real_fer2013_validation_split(fer_zip):
    data = load_split(fer_zip, "validation", progress=False)
    assert data.class_counts() == [467, 56, 496, 895, 607, 653, 415]
    assert data.skipped == 0 and data.converted == 0
