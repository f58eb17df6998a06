"""Hub-format checkpoints: round trip through our loader and through plain timm."""

import json
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from fer.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from fer.model.labels import CLASS_NAMES
from fer.model.networks import create_model
from fer.model.preprocess import Preprocess
from fer.utils.atomic import atomic_write
from train.state_io import load_state, save_state


@pytest.mark.parametrize("name, size", [("fernet_t", 48), ("resnet18", 64)])
def test_round_trip_through_our_loader_and_plain_timm(tmp_path, name, size):
    model = create_model(name).eval()
    save_checkpoint(model, tmp_path, list(CLASS_NAMES), Preprocess(size=size))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architecture"] == name and config["num_classes"] == 7
    assert config["label_names"] == list(CLASS_NAMES)
    assert config["model_args"]["in_chans"] == 1
    assert config["pretrained_cfg"]["input_size"] == [1, size, size]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    x = torch.randn(2, 1, size, size)
    loaded = load_checkpoint(tmp_path)
    via_timm = timm.create_model(f"local-dir:{tmp_path}", pretrained=True).eval()
    with torch.no_grad():
        assert torch.equal(model(x), loaded.model(x))
        assert torch.equal(model(x), via_timm(x))
    assert loaded.preprocess == Preprocess(size=size)
    data_cfg = timm.data.resolve_data_config({}, model=via_timm)
    assert data_cfg["input_size"] == (1, size, size) and tuple(data_cfg["mean"]) == Preprocess().mean


def test_a_timm_without_data_config_writes_the_same_config(tmp_path, monkeypatch):
    """The lent GPU machines have timm 1.0.29, whose save_config_for_hf takes no data_config."""
    from timm.models._hub import save_config_for_hf

    import fer.model.checkpoint

    model = create_model("resnet18").eval()
    save_checkpoint(model, tmp_path / "new", list(CLASS_NAMES), Preprocess(size=64))

    def older_timm(model, config_path, model_config=None):
        save_config_for_hf(model, config_path, model_config=model_config)

    monkeypatch.setattr(fer.model.checkpoint, "save_config_for_hf", older_timm)
    save_checkpoint(model, tmp_path / "old", list(CLASS_NAMES), Preprocess(size=64))
    new, old = (json.loads((tmp_path / f / "config.json").read_text()) for f in ("new", "old"))
    assert old == new and old["pretrained_cfg"]["input_size"] == [1, 64, 64]
    assert load_checkpoint(tmp_path / "old").preprocess == Preprocess(size=64)


def test_pickle_only_folder_is_refused_not_unpickled(tmp_path):
    save_checkpoint(create_model("fernet_t"), tmp_path, list(CLASS_NAMES), Preprocess())
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04 would be a pickle")
    with pytest.raises(CheckpointError, match="pickled weights are never loaded"):
        load_checkpoint(tmp_path)


def test_config_without_label_names_is_not_a_fer_checkpoint(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps({"architecture": "resnet18", "num_classes": 7, "pretrained_cfg": {}})
    )
    with pytest.raises(CheckpointError, match="no 'label_names'"):
        load_checkpoint(tmp_path)


def test_weights_for_another_architecture_are_refused(tmp_path):
    save_checkpoint(create_model("fernet_t"), tmp_path, list(CLASS_NAMES), Preprocess())
    save_file({"x": torch.zeros(1)}, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match="does not match fernet_t"):
        load_checkpoint(tmp_path)


def test_training_state_round_trip_without_pickle(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    state = {"optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(), "epoch": 3, "pair": (1, "a")}
    save_state(state, tmp_path)
    save_state(state, tmp_path)  # a second save replaces the first, leaving one tensor file
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".safetensors"]
    back = load_state(tmp_path)
    assert back["epoch"] == 3 and back["pair"] == (1, "a") and torch.equal(back["rng"], state["rng"])
    restored = torch.optim.AdamW(model.parameters())
    restored.load_state_dict(back["optimizer"])
    assert torch.equal(restored.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])


def test_state_with_unstorable_objects_is_refused(tmp_path):
    with pytest.raises(TypeError, match="without pickle"):
        save_state({"fn": print}, tmp_path)


@pytest.mark.parametrize(
    "field, value",
    [("checkpoint_path", "/etc/passwd"), ("pretrained_cfg_overlay", {"file": "/etc/passwd"}), ("in_chans", "../x")],
)
def test_model_args_outside_the_allow_list_are_refused_naming_the_field(tmp_path, field, value):
    save_checkpoint(create_model("fernet_t"), tmp_path, list(CLASS_NAMES), Preprocess())
    config = json.loads((tmp_path / "config.json").read_text())
    config["model_args"][field] = value
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=f"model_args field '{field}'"):
        load_checkpoint(tmp_path)


def test_atomically_written_files_are_readable_by_others(tmp_path):
    target = tmp_path / "shared.json"
    atomic_write(target, lambda tmp: Path(tmp).write_text("{}"))
    assert target.read_text() == "{}" and target.stat().st_mode & 0o044 == 0o044
