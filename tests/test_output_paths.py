"""Every command that writes checks where, before its work: a file where a folder is wanted, or a
folder where a file is, is one sentence at the start, not a traceback at the end with the work lost.

The trainer, the evaluation and the teachers' pass are given data that does not exist as well: the
sentence they answer with is the output's, so the output was checked before any data was read.
"""

from __future__ import annotations

import runpy
import shutil

import pytest

from fer.hub.client import HubError
from fer.utils.output_paths import OutputPathError, writable_file, writable_folder
from tests.conftest import ROOT, train_in_process

EMBEDDED = ROOT / "checkpoints" / "fernet_s"
NOTES = "someone's notes\n"


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text(NOTES)
    yield path
    assert path.read_text() == NOTES  # nothing a command refused to write over was touched


def test_folders_and_files_are_made_or_refused(tmp_path, a_file):
    assert writable_folder(tmp_path / "a" / "b").is_dir()
    assert writable_file(tmp_path / "c" / "d.csv") == tmp_path / "c" / "d.csv"
    assert (tmp_path / "c").is_dir() and not (tmp_path / "c" / "d.csv").exists()
    with pytest.raises(OutputPathError, match=f"^cannot write into {a_file}: {a_file} is a file, not a folder$"):
        writable_folder(a_file)
    deeper = a_file / "run" / "1"
    with pytest.raises(OutputPathError, match=f"^cannot write into {deeper}: {a_file} is a file, not a folder$"):
        writable_folder(deeper)
    with pytest.raises(OutputPathError, match=f"^cannot write {tmp_path}: it is a folder; name a file$"):
        writable_file(tmp_path)


def test_training_into_a_file_is_one_sentence_before_the_data(tmp_path, a_file, capsys):
    flags = ["--data", str(tmp_path / "missing.zip"), "--out", str(a_file), "--model", "fernet_t"]
    status, _, stderr = train_in_process(capsys, *flags)
    assert status == 1
    assert stderr == f"error: cannot write into {a_file}: {a_file} is a file, not a folder\n"


def test_training_into_a_folder_of_other_files_is_refused_but_a_stopped_start_is_not(tmp_path, capsys):
    """A project's folder named as --out keeps its README.md; a run stopped before its first
    checkpoint (its flags and nothing more) may simply be started again."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text(NOTES)
    flags = ["--data", str(tmp_path / "missing.zip"), "--model", "fernet_t"]
    status, _, err = train_in_process(capsys, *flags, "--out", str(project))
    assert status == 1 and (project / "README.md").read_text() == NOTES and len(list(project.iterdir())) == 1
    assert err == (
        f"error: {project} holds other files (README.md), which a run's README.md, weights and plots would "
        "join or replace; choose a new or empty --out\n"
    )
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    (stopped / "train_args.json").write_text("{}")
    status, _, err = train_in_process(capsys, *flags, "--out", str(stopped))
    assert status == 1 and "missing.zip" in err  # past the folder: on to the data


def test_evaluation_into_a_file_is_refused_before_the_data(tmp_path, a_file):
    from train import evaluate

    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        evaluate.main([str(EMBEDDED), "--data", str(tmp_path / "missing.zip"), "--out", str(a_file)])


def test_soft_targets_into_a_folder_are_refused_before_the_teachers(tmp_path):
    from train import soft_targets

    argv = ["--data", str(tmp_path / "missing.zip"), "--teacher", str(EMBEDDED), "--out", str(tmp_path)]
    with pytest.raises(OutputPathError, match="it is a folder; name a file"):
        soft_targets.main(argv)


def test_soft_targets_are_not_written_over_a_file_of_other_data(tmp_path):
    from train import soft_targets

    data = tmp_path / "faces.npz"
    data.write_bytes(b"someone's arrays")
    argv = ["--data", str(data), "--teacher", str(EMBEDDED), "--out", str(data)]
    with pytest.raises(ValueError, match="exists and holds no soft targets: choose another --out"):
        soft_targets.main(argv)
    assert data.read_bytes() == b"someone's arrays"


@pytest.mark.parametrize("out", ["faces.csv", "notes.txt/results"])
def test_batch_output_that_cannot_be_written_is_one_sentence_before_any_file(tmp_path, a_file, out, capsys):
    from fer.batch.cli import main

    target = tmp_path / out
    if target.suffix == ".csv":
        target.mkdir()
    with pytest.raises(SystemExit) as exited:
        main(["--no-progress", str(ROOT / "examples"), "--out", str(target)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write {target}") or err.startswith(f"error: cannot write into {target}")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_static_site_checks_its_folder_and_space_id_before_building(tmp_path, a_file):
    from scripts.build_web import main

    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        main([str(a_file)])
    with pytest.raises(HubError, match="not a valid Hub repo id"):
        main([str(tmp_path / "site"), "--push", "not a repo id"])
    assert not (tmp_path / "site").exists()


def test_static_site_is_not_built_over_a_folder_of_other_files(tmp_path):
    """The build replaces config.json and README.md: a checkpoint named as OUT by mistake keeps its own."""
    from scripts.build_web import main

    checkpoint = shutil.copytree(EMBEDDED, tmp_path / "checkpoint")
    before = {path: path.read_bytes() for path in checkpoint.rglob("*") if path.is_file()}
    with pytest.raises(OutputPathError, match="holds other files and no earlier build of this page"):
        main([str(checkpoint)])
    assert {path: path.read_bytes() for path in checkpoint.rglob("*") if path.is_file()} == before


BENCHMARKS = sorted(p.name for p in (ROOT / "scripts").glob("*.py") if p.name.startswith(("bench_", "soak")))


@pytest.mark.parametrize("script", BENCHMARKS)
def test_benchmarks_refuse_their_output_before_timing(tmp_path, script, monkeypatch, capsys):
    """A benchmark runs for minutes; a folder given as its --out is refused before, not after."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    monkeypatch.setattr("sys.argv", [script, "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(ROOT / "scripts" / script), run_name="__main__")
    assert exited.value.code == 2
    assert capsys.readouterr().err.endswith(f"argument --out: cannot write {tmp_path}: it is a folder; name a file\n")
