import numpy as np
import pytest

from train.corruptions import CORRUPTIONS, low_contrast


@pytest.fixture
def faces():
    return np.random.default_rng(0).integers(0, 256, (6, 48, 48), dtype=np.uint8)


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_each_corruption_damages_faces_reproducibly(faces, name):
    corrupt = CORRUPTIONS[name]
    out = corrupt(faces)
    assert out.shape == faces.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - faces).mean() > 1  # it changed the faces
    assert np.array_equal(out, corrupt(faces))  # deterministic


def test_low_contrast_halves_the_spread_around_each_face_mean():
    face = np.array([[[100, 200]]], dtype=np.uint8)
    assert low_contrast(face).tolist() == [[[125, 175]]]
