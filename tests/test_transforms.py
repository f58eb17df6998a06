import dataclasses

import torch

from fer.model.preprocess import Preprocess
from fer.model.transforms import to_model_input
from train.augment import Augment, AugmentConfig


def faces(n=8, seed=0):
    return torch.randint(0, 256, (n, 48, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_model_input_is_normalised_with_the_configured_statistics():
    pre = Preprocess(size=48, mean=(0.5,), std=(0.25,))
    x = to_model_input(torch.full((2, 48, 48), 255, dtype=torch.uint8), pre)
    assert x.shape == (2, 1, 48, 48)
    assert torch.allclose(x, torch.full_like(x, (1.0 - 0.5) / 0.25))


def test_model_input_is_resized_to_the_model_size():
    assert to_model_input(faces(), Preprocess(size=64)).shape == (8, 1, 64, 64)


def test_augment_at_zero_strength_is_exactly_the_eval_preprocessing():
    pre = Preprocess()
    batch = faces()
    assert torch.allclose(Augment(pre, AugmentConfig.scaled(0))(batch), to_model_input(batch, pre), atol=1e-5)


def test_certain_flip_mirrors_every_face():
    pre = Preprocess()
    flip_only = dataclasses.replace(AugmentConfig.scaled(0), flip=1.0)
    batch = faces()
    assert torch.allclose(Augment(pre, flip_only)(batch), to_model_input(batch, pre).flip(-1), atol=1e-5)


def test_default_augmentation_changes_faces_differently_and_reproducibly():
    pre, batch = Preprocess(), faces()
    torch.manual_seed(3)
    a = Augment(pre, AugmentConfig())(batch)
    torch.manual_seed(3)
    b = Augment(pre, AugmentConfig())(batch)
    assert torch.equal(a, b)
    plain = to_model_input(batch, pre)
    changed = [(a[i] - plain[i]).abs().mean().item() > 0.01 for i in range(len(batch))]
    assert sum(changed) >= 6  # flips are 50/50; rotation/scale/shift touch every face
