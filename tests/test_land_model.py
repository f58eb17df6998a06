"""scripts/land_model.py: a run becomes the embedded checkpoint only if its numbers reproduce."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from fer.hub.model_card import write_model_card
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import land_model  # noqa: E402

EMBEDDED = ROOT / "checkpoints" / "fernet_s"


@pytest.fixture
def run(tmp_path, fer_zip):
    """A run folder as the trainer leaves it, launched with absolute paths."""
    folder = tmp_path / "run"
    folder.mkdir()
    for name in land_model.RUN_FILES:
        shutil.copy(EMBEDDED / name, folder / name)
    args = json.loads((folder / "train_args.json").read_text())
    embedded = str(ROOT / "checkpoints" / "fernet_s")
    targets = tmp_path / "targets.npz"
    targets.touch()
    args.update(data=str(fer_zip.resolve()), out=str(folder), init=embedded, teacher=[embedded, str(tmp_path / "t2")],
                soft_targets=str(targets))  # fmt: skip
    (folder / "train_args.json").write_text(json.dumps(args))
    metrics = json.loads((folder / "metrics.json").read_text())
    (folder / "metrics.json").write_text(json.dumps({**metrics, "teachers": args["teacher"]}))
    return folder


def test_the_landed_training_arguments_name_no_folder_of_this_machine(run, tmp_path):
    staged = tmp_path / "staged"
    staged.mkdir()
    land_model.copy_run(run, staged, "../shared/data/fer2013.zip")
    args = json.loads((staged / "train_args.json").read_text())
    assert args["init"] == "checkpoints/fernet_s"
    assert args["teacher"][0] == "checkpoints/fernet_s"  # a list: --teacher takes several
    for value in (args["data"], args["out"], args["init"], args["soft_targets"], *args["teacher"]):
        assert not value.startswith("/"), value
    teachers = json.loads((staged / "metrics.json").read_text())["teachers"]
    assert teachers == args["teacher"]  # metrics.json records them too


def test_a_run_trained_on_another_machine_names_the_data_and_folder_it_was_landed_from(run, tmp_path, fer_zip):
    args = json.loads((run / "train_args.json").read_text())
    gpu_machine = tmp_path / "gpu-machine"  # folders that exist only on the machine that trained it
    args.update(
        data=str(gpu_machine / "fer2013.npz"),
        out=str(gpu_machine / "runs" / "student"),
        teacher=[str(gpu_machine / "runs" / "fernet_m-sgd"), str(ROOT / "checkpoints" / "fernet_s")],
    )
    (run / "train_args.json").write_text(json.dumps(args))
    staged = tmp_path / "staged"
    staged.mkdir()
    land_model.copy_run(run, staged, str(fer_zip))
    landed = json.loads((staged / "train_args.json").read_text())
    assert landed["data"] == land_model.relative_to_repo(str(fer_zip)) and not landed["data"].startswith("/")
    assert landed["out"] == land_model.relative_to_repo(str(run.resolve()))
    assert landed["teacher"] == ["@fernet_m-sgd", "checkpoints/fernet_s"]  # device_run's name for it
    write_model_card(staged, repo_id=None)
    assert "`@name`: a run trained earlier" in (staged / "README.md").read_text()


def test_the_card_reports_the_landing_evaluation_per_class(run, tmp_path, fer_zip):
    """A GPU run validated in bf16 may match in accuracy but differ by a few faces per class."""
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "macro_f1": 0.5}))
    staged = tmp_path / "staged"
    staged.mkdir()
    land_model.copy_run(run, staged, str(fer_zip))
    assert land_model.check_reproduced(staged, str(fer_zip)) == metrics["accuracy"]
    landed = json.loads((staged / "metrics.json").read_text())
    evaluated = json.loads((staged / "eval_validation.json").read_text())
    assert landed["macro_f1"] == evaluated["macro_f1"] != 0.5 and landed["per_class"] == evaluated["per_class"]


def test_a_run_whose_accuracy_does_not_reproduce_is_refused_and_the_target_kept(run, tmp_path, fer_zip):
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "accuracy": metrics["accuracy"] + 0.01}))
    target = tmp_path / "checkpoints" / "fernet_s"
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")
    with pytest.raises(SystemExit, match=r"re-evaluation gave 0\.\d{6}, the run logged 0\.\d{6}; not landed"):
        land_model.land(run, str(fer_zip), target)
    assert [p.name for p in target.iterdir()] == ["config.json"]


def test_the_card_names_the_folder_the_checkpoint_is_landed_in(tmp_path):
    """Built in a temporary folder, the card still tells readers to load checkpoints/fernet_s."""
    staged = tmp_path / "fernet_s"
    shutil.copytree(EMBEDDED, staged)
    args = json.loads((staged / "train_args.json").read_text())
    (staged / "train_args.json").write_text(json.dumps({**args, "init": "checkpoints/fernet_s"}))
    card = write_model_card(staged, shown_as="checkpoints/fernet_s").read_text()
    assert "`checkpoints/fernet_s` in these lines and the command below: the model this one replaced" in card
    assert "Predictor('checkpoints/fernet_s')" in card and "local-dir:checkpoints/fernet_s" in card
    assert "FER_MODEL=checkpoints/fernet_s python app.py" in card and str(tmp_path) not in card
