"""Faults and bad input, tried as a new user would (issue 27): nothing silently wrong, every failure one line naming
its cause, and the CLI's promise (one line on stderr, exit 2) kept before any training step.

1. a run folder carries its own weights: a copy with a corrupt ``last.pt`` is refused, a moved one works, its record
   names its files relative to itself, old records (a stored repo path) still read;
2. ``tools/run_notebook.py``: a failed run keeps the last good notebook and record, names the failing cell, leaves no
   temporary file; unknown or ill-typed ``-p`` parameters are refused before the run; the default preset is the
   notebook's own;
3. ``--dataset folder``: splits from ``train/`` and ``test/`` subfolders; a folder without a test split, or with too
   few images, is refused before training saying what to pass; ``--set n_train=null`` is kept;
4. the CLI: unwritable ``--runs-dir`` / ``--results``, ``--device cuda`` without CUDA, ``--set lr=abc``, negative
   seeds: one line, exit 2, before any training step; an unexpected bug keeps its traceback;
5. a corrupt result file names itself in every reader;
6. ``tools/refresh_notebooks.py`` leaves nothing behind after a failure; the stale-notebook message names the one
   command that fixes it.
Every test is offline and tiny (deadleaves images, an 8-wide autoencoder, two steps).
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from PIL import Image

from smlib.cli import main
from smlib.data import load_dataset
from smlib.experiments.autoencoders import SWEEP as LAB_SWEEP
from smlib.pipelines import autoencoder as lab
from smlib.provenance import REPO_ROOT, resolve_repo_path
from smlib.results import RunContext, finished_run, read_result, read_shards, write_result

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_AE = dict(dataset="deadleaves", ae_channels=(8, 8, 8), n_train=16, steps=2, batch_size=8, warmup_steps=1,
               log_every=1, ckpt_every=2, fid_n=0, n_spectrum=8, n_examples=2, lowpass_ks=(0,), eval_batch=8)
#: the same tiny lab on the command line
TINY_FLAGS = ["--dataset", "deadleaves", "--steps", "2", "--set", "ae_channels=[8,8,8]", "--set", "n_train=16",
              "--set", "batch_size=8", "--set", "warmup_steps=1", "--set", "log_every=1", "--set", "ckpt_every=2",
              "--set", "fid_n=0", "--set", "n_spectrum=8", "--set", "n_examples=2", "--set", "lowpass_ks=[0]",
              "--set", "eval_batch=8"]


def tiny_cfg(**extra):
    return lab.AutoencoderConfig.at("ci", **{**TINY_AE, **extra})


def tiny_run(runs_dir, variant="plain", **extra):
    return lab.fit_autoencoder(variant, tiny_cfg(**extra), device="cpu", runs_dir=runs_dir)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


@pytest.fixture
def no_training(monkeypatch):
    """Any training step fails the test: the refusals below must come before the first one."""
    def refuse(*args, **kwargs):
        raise AssertionError("a training step started")

    monkeypatch.setattr(lab, "fit", refuse)


def strings(obj, skip=("provenance",)):
    """Every string value of a JSON record (nested), but under ``skip``."""
    if isinstance(obj, dict):
        return [s for k, v in obj.items() if k not in skip for s in strings(v, skip)]
    if isinstance(obj, list):
        return [s for v in obj for s in strings(v, skip)]
    return [obj] if isinstance(obj, str) else []


# ============================================================================================ 1. weights
def test_a_copied_run_folder_with_corrupt_weights_is_refused_in_one_line_by_the_cli(tmp_path, capsys):
    folder = resolve_repo_path(tiny_run(tmp_path / "runs")["run_dir"])
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "last.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    assert main(["diffusion", "--variant", "plain", "--autoencoder", str(copy), "--runs-dir", str(tmp_path / "d"),
                 "--results", str(tmp_path / "results"), "--device", "cpu"]) == 2
    err = one_line_error(capsys)
    assert "copy/last.pt" in err and "does not hold this run's autoencoder weights" in err
    assert not (tmp_path / "d" / "diffusability").exists()          # nothing was trained


def test_a_moved_run_folder_keeps_its_weights_and_its_record_names_no_absolute_path(tmp_path):
    res = tiny_run(tmp_path / "runs")
    folder = resolve_repo_path(res["run_dir"])
    record = json.loads((folder / "result.json").read_text())
    # the folder's own record names its files relative to the folder, never where it was written
    assert record["checkpoint"] == "last.pt" and record["run_dir"] == "."
    assert not [s for s in strings(record) if s.startswith("/") or str(tmp_path) in s]
    original = lab.load_autoencoder(folder).state_dict()
    moved = tmp_path / "elsewhere" / "mine"
    shutil.move(str(folder), moved)
    assert lab.weights_file(moved) == moved / "last.pt"
    read = lab.read_run(moved)                                    # located where it is now
    assert resolve_repo_path(read["checkpoint"]) == moved / "last.pt" and resolve_repo_path(read["run_dir"]) == moved
    assert all(torch.equal(original[k], v) for k, v in lab.load_autoencoder(read).state_dict().items())
    # a finished run read back by the lab (no training) is located in its folder too
    again = lab.fit_autoencoder("plain", tiny_cfg(), device="cpu", out_dir=moved)
    assert again["cached"] and resolve_repo_path(again["checkpoint"]) == moved / "last.pt"


def test_an_old_record_with_a_stored_checkpoint_path_reads_the_folders_own_file(tmp_path):
    folder = resolve_repo_path(tiny_run(tmp_path / "runs")["run_dir"])
    record = read_result(folder / "result.json")
    old = {**record, "run_dir": "runs/autoencoders/ci/plain-0000000000",
           "checkpoint": "runs/autoencoders/ci/plain-0000000000/last.pt"}   # as records were written before
    write_result(folder / "result.json", old)
    assert lab.weights_file(folder) == folder / "last.pt"
    assert resolve_repo_path(lab.read_run(folder)["checkpoint"]) == folder / "last.pt"
    lab.load_autoencoder(folder)
    again = lab.fit_autoencoder("plain", tiny_cfg(), device="cpu", out_dir=folder)
    assert again["cached"] and resolve_repo_path(again["checkpoint"]) == folder / "last.pt"


def test_a_sweep_with_runs_outside_the_checkout_commits_no_absolute_path(tmp_path, capsys):
    assert main(["autoencoder", "--variant", "plain", "--device", "cpu", "--runs-dir", str(tmp_path / "runs"),
                 "--results", str(tmp_path / "results"), *TINY_FLAGS]) == 0
    committed = read_shards("autoencoders", "ci", tmp_path / "results")
    assert len(committed) == 1 and committed[0]["completed"]
    paths = [committed[0][k] for k in ("run_dir", "checkpoint")]
    assert paths[1].endswith("last.pt") and not [p for p in paths if p.startswith("/") or str(tmp_path) in p]


# ============================================================================================ 2. make run
def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f"tool_{name}", REPO_ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NOTEBOOK = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
preset = "ci"
seed = 0
lr = 0.001
data_root = None
fail = False

# %%
x = seed + 1

# %%
assert not fail, "asked to fail"
'''


@pytest.fixture
def notebook(tmp_path):
    py = tmp_path / "nb" / "01_tiny.py"
    py.parent.mkdir()
    py.write_text(NOTEBOOK)
    return py


def fake_papermill(monkeypatch, fail_at=None):
    """papermill.execute_notebook without a kernel: writes the output notebook (as papermill does, also when a cell
    fails) and raises papermill's own exception for the cell whose source starts with ``fail_at``."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    calls = []
    monkeypatch.setenv("MPLBACKEND", os.environ.get("MPLBACKEND", "Agg"))   # the tools drop it for the kernel

    def execute(src, out, parameters=None, **kw):
        calls.append(parameters)
        nb = nbformat.read(src, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                cell.execution_count = i + 1
            if fail_at and cell.source.startswith(fail_at):
                nbformat.write(nb, out)
                raise PapermillExecutionError(i + 1, i + 1, cell.source, "AssertionError", "asked to fail",
                                              ["Traceback", "AssertionError: asked to fail"])
        nbformat.write(nb, out)
        return nb

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    return calls


def test_run_notebook_refuses_unknown_and_ill_typed_parameters_before_the_run(notebook, tmp_path, monkeypatch,
                                                                             capsys):
    tool = load_tool("run_notebook")
    calls = fake_papermill(monkeypatch)
    out = tmp_path / "runs"
    for params, named in [(["-p", "sed", "1"], "'sed'"), (["-p", "seed", "abc"], "seed"),
                          (["-p", "lr", "fast"], "lr"), (["-p", "seed", "-1"], "seed")]:
        assert tool.main([str(notebook), "--out-dir", str(out), *params]) == 2
        err = one_line_error(capsys)
        assert named in err and "preset, seed, lr, data_root, fail" in err, err
    assert calls == [] and not out.exists()
    # a well-typed value passes (an int where the default is a float; any value where the default is None)
    assert tool.main([str(notebook), "--out-dir", str(out), "-p", "lr", "1", "-p", "data_root", "/data"]) == 0
    assert calls == [{"preset": "ci", "lr": 1, "data_root": "/data"}]


def test_run_notebook_defaults_to_the_notebooks_own_preset_and_leaves_no_temporary_file(notebook, tmp_path,
                                                                                        monkeypatch):
    tool = load_tool("run_notebook")
    calls = fake_papermill(monkeypatch)
    out = tmp_path / "runs"
    assert tool.main([str(notebook), "--out-dir", str(out)]) == 0
    assert calls == [{"preset": "ci"}]
    assert sorted(p.name for p in out.iterdir()) == ["01_tiny-ci.ipynb", "01_tiny-ci.json"]
    record = json.loads((out / "01_tiny-ci.json").read_text())
    assert record["parameters"] == {"preset": "ci"} and record["output"].endswith("01_tiny-ci.ipynb")


def test_make_run_defaults_to_the_notebooks_preset():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(["make", "-n", "-s", "run", "NB=01_spectral_bias", "VENV=/nonexistent"], cwd=REPO_ROOT,
                         capture_output=True, text=True)
    line = [ln for ln in dry.stdout.splitlines() if "run_notebook.py" in ln]
    assert line and "--preset small" not in line[0], dry.stdout


def test_a_failed_run_keeps_the_last_good_notebook_and_record_and_names_the_cell(notebook, tmp_path, monkeypatch,
                                                                                 capsys):
    tool = load_tool("run_notebook")
    out = tmp_path / "runs"
    fake_papermill(monkeypatch)
    assert tool.main([str(notebook), "--out-dir", str(out)]) == 0
    good = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    fake_papermill(monkeypatch, fail_at="assert not fail")
    assert tool.main([str(notebook), "--out-dir", str(out), "-p", "fail", "True"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "assert not fail" in err and "AssertionError: asked to fail" in err, err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name in good} == good      # untouched
    left = sorted(p.name for p in out.iterdir() if p.name not in good)
    assert left == ["01_tiny-ci.failed.ipynb"] and "01_tiny-ci.failed.ipynb" in err       # no *.src.ipynb, no tmp


# ============================================================================================ 3. folder data
def images(folder: Path, n: int, side: int = 32) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(folder)))
    for k in range(n):
        Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(folder / f"{k}.png")


def test_a_folder_with_train_and_test_subfolders_has_those_splits(tmp_path):
    images(tmp_path / "split" / "train", 5)
    images(tmp_path / "split" / "test", 3)
    assert len(load_dataset("folder", root=tmp_path / "split", split="train", resolution=8)) == 5
    assert len(load_dataset("folder", root=tmp_path / "split", split="test", resolution=8)) == 3
    assert len(load_dataset("folder", root=tmp_path / "split", split="all", resolution=8)) == 8
    images(tmp_path / "flat", 4)
    with pytest.raises(ValueError, match="has no split 'test'.*test/") as err:
        load_dataset("folder", root=tmp_path / "flat", split="test")
    assert "\n" not in str(err.value)


def test_the_lab_refuses_a_folder_without_a_test_split_before_training(tmp_path, no_training, capsys):
    images(tmp_path / "flat", 20)
    assert main(["autoencoder", "--variant", "plain", "--device", "cpu", "--runs-dir", str(tmp_path / "runs"),
                 "--results", str(tmp_path / "results"), *TINY_FLAGS, "--dataset", "folder", "--data-root",
                 str(tmp_path / "flat")]) == 2
    err = one_line_error(capsys)
    assert "test" in err and "test/" in err and "train/" in err


def test_the_lab_says_which_knob_to_lower_when_a_folder_has_too_few_images(tmp_path, no_training, capsys):
    images(tmp_path / "few" / "train", 5)
    images(tmp_path / "few" / "test", 8)
    common = ["autoencoder", "--variant", "plain", "--device", "cpu", "--runs-dir", str(tmp_path / "runs"),
              "--results", str(tmp_path / "results"), *TINY_FLAGS, "--dataset", "folder", "--data-root",
              str(tmp_path / "few")]
    assert main(common) == 2
    err = one_line_error(capsys)
    assert "n_train=16" in err and "--set n_train=5" in err and "n_train=null" in err
    assert main([*common, "--set", "n_train=4", "--set", "n_spectrum=9"]) == 2
    err = one_line_error(capsys)
    assert "9 test images" in err and "n_spectrum" in err


def test_the_lab_trains_and_evaluates_on_a_folder_with_a_test_split_and_n_train_null(tmp_path, monkeypatch):
    images(tmp_path / "data" / "train", 6)
    images(tmp_path / "data" / "test", 4)
    seen = []
    real = lab.training_data

    def spy(recipe, *args, **kwargs):
        seen.append(recipe.config.n_train)
        return real(recipe, *args, **kwargs)

    monkeypatch.setattr(lab, "training_data", spy)
    assert main(["autoencoder", "--variant", "plain", "--device", "cpu", "--runs-dir", str(tmp_path / "runs"),
                 "--results", str(tmp_path / "results"), *TINY_FLAGS, "--dataset", "folder", "--data-root",
                 str(tmp_path / "data"), "--set", "n_train=null", "--set", "batch_size=2", "--set", "n_spectrum=4"]) == 0
    assert seen == [None]                                     # the whole split, not the preset's 16
    run = read_shards("autoencoders", "ci", tmp_path / "results")[0]
    assert run["completed"] and run["metrics"]["psnr"] > 0 and run["config"]["n_train"] is None


# ============================================================================================ 4. the CLI's promise
def lab_command(tmp_path, *extra):
    return ["autoencoder", "--variant", "plain", "--device", "cpu", "--runs-dir", str(tmp_path / "runs"),
            "--results", str(tmp_path / "results"), *TINY_FLAGS, *extra]


def unwritable(tmp_path, name) -> Path:
    """A folder nothing can be written to, even by root: its would-be parent is a file."""
    blocker = tmp_path / f"{name}-is-a-file"
    blocker.write_text("")
    return blocker / name


@pytest.mark.parametrize("flag", ["--runs-dir", "--results"])
def test_an_unwritable_output_folder_is_one_line_before_training(tmp_path, no_training, capsys, flag):
    bad = unwritable(tmp_path, "out")
    cmd = lab_command(tmp_path)
    cmd[cmd.index(flag) + 1] = str(bad)
    assert main(cmd) == 2
    err = one_line_error(capsys)
    assert flag in err and str(bad) in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_runs_folder_is_one_line_before_training(tmp_path, no_training, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    cmd = lab_command(tmp_path)
    cmd[cmd.index("--runs-dir") + 1] = str(ro)
    try:
        assert main(cmd) == 2
    finally:
        ro.chmod(0o755)
    assert "--runs-dir" in one_line_error(capsys)


def test_device_cuda_without_cuda_is_one_line(tmp_path, no_training, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cmd = lab_command(tmp_path)
    cmd[cmd.index("--device") + 1] = "cuda"
    assert main(cmd) == 2
    err = one_line_error(capsys)
    assert "--device" in err and "cuda" in err
    cmd[cmd.index("--device") + 1] = "tpu"
    assert main(cmd) == 2
    assert "tpu" in one_line_error(capsys)


@pytest.mark.parametrize("item,named", [("lr=abc", "lr"), ("steps=1.5", "steps"), ("gan=maybe", "gan"),
                                        ("ae_channels=[8,\"x\"]", "ae_channels"), ("fid_n=null", "fid_n"),
                                        ("eval_seed=-1", "eval_seed"), ("betas=[0.9]", "betas")])
def test_set_values_are_checked_against_the_knobs_type(tmp_path, no_training, capsys, item, named):
    assert main(lab_command(tmp_path, "--set", item)) == 2
    err = one_line_error(capsys)
    assert f"--set {item}" in err and named in err


@pytest.mark.parametrize("cmd", [["autoencoder", "--seeds", "-1"], ["autoencoder", "--seeds", "0", "-2"],
                                 ["autoencoder", "--regularizer", "kl", "--seeds", "-1"],
                                 ["diffusion", "--variant", "plain", "--set", "ae_seed=-1"],
                                 ["audit", "--autoencoder", "x", "--seed", "-1"]])
def test_negative_seeds_are_one_line_naming_the_flag(tmp_path, no_training, capsys, cmd):
    assert main([*cmd, "--device", "cpu"]) == 2
    err = one_line_error(capsys)
    assert ("--seed" in err or "ae_seed" in err) and "non-negative" in err


def test_an_os_error_is_one_line_naming_the_path_and_a_bug_keeps_its_traceback(tmp_path, capsys, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/some/where/last.pt")

    monkeypatch.setattr(lab, "fit", denied)
    assert main(lab_command(tmp_path)) == 2
    err = one_line_error(capsys)
    assert "/some/where/last.pt" in err and "Permission denied" in err

    def bug(*args, **kwargs):
        return 1 / 0

    monkeypatch.setattr(lab, "fit", bug)
    with pytest.raises(ZeroDivisionError):
        main(lab_command(tmp_path))


# ============================================================================================ 5. corrupt results
def truncate(path: Path) -> None:
    text = path.read_text()
    path.write_text(text[: len(text) // 2])


def test_a_truncated_result_names_itself_in_every_reader(tmp_path, capsys):
    ok = tiny_run(tmp_path / "runs")
    folder = resolve_repo_path(ok["run_dir"])
    truncate(folder / "result.json")
    for read in (lambda: read_result(folder / "result.json"), lambda: lab.read_run(folder),
                 lambda: finished_run(folder, {}, 2), lambda: tiny_run(tmp_path / "runs")):
        with pytest.raises(ValueError) as err:
            read()
        assert "result.json" in str(err.value) and "\n" not in str(err.value), str(err.value)
    assert main(["diffusion", "--variant", "plain", "--autoencoder", str(folder), "--runs-dir",
                 str(tmp_path / "d"), "--device", "cpu"]) == 2
    assert f"{folder.name}/result.json" in one_line_error(capsys)


def test_a_truncated_shard_among_many_is_named(tmp_path, capsys):
    shards = tmp_path / "results" / "autoencoders" / "ci"
    for seed in range(5):
        write_result(shards / f"plain-seed{seed}.json", {"variant": "plain", "seed": seed, "completed": True})
    truncate(shards / "plain-seed3.json")
    for read in (lambda: LAB_SWEEP.load("ci", tmp_path / "results"),
                 lambda: LAB_SWEEP.run(tiny_cfg(), RunContext(results_dir=tmp_path / "results"), ["plain"], [3])):
        with pytest.raises(ValueError, match="plain-seed3.json") as err:
            read()
        assert "\n" not in str(err.value)
    assert main(lab_command(tmp_path, "--seeds", "3")) == 2
    assert "plain-seed3.json" in one_line_error(capsys)


# ============================================================================================ 6. notebook refresh
def test_a_failed_refresh_leaves_no_temporary_notebook_and_keeps_the_committed_one(notebook, monkeypatch, capsys):
    tool = load_tool("refresh_notebooks")
    committed = notebook.with_suffix(".ipynb")
    committed.write_text("the last good notebook")
    fake_papermill(monkeypatch, fail_at="assert not fail")
    with pytest.raises(SystemExit) as stop:
        tool.main([str(notebook)])
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert "assert not fail" in err and "AssertionError: asked to fail" in err
    assert committed.read_text() == "the last good notebook"
    assert sorted(p.name for p in notebook.parent.iterdir()) == ["01_tiny.ipynb", "01_tiny.py"]
    fake_papermill(monkeypatch)
    tool.main([str(notebook)])
    assert nbformat.read(committed, as_version=4).cells[-1].source.startswith("assert not fail")
    assert sorted(p.name for p in notebook.parent.iterdir()) == ["01_tiny.ipynb", "01_tiny.py"]


def test_temporary_notebooks_are_ignored_by_git():
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for path in ("notebooks/04_autoencoders.tmp.ipynb", "notebooks/.refresh-x/04_autoencoders.ipynb",
                 "runs/04_autoencoders-ci.src.ipynb"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO_ROOT).returncode == 0, path


def test_the_stale_notebook_message_names_the_one_command_that_fixes_it(notebook):
    sys.path.insert(0, str(Path(__file__).parent))
    from test_notebooks_in_sync import test_ipynb_is_fresh_and_executed

    stale = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")],
                                     metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                             "language": "python"}})
    nbformat.write(stale, notebook.with_suffix(".ipynb"))
    with pytest.raises(AssertionError) as err:
        test_ipynb_is_fresh_and_executed(notebook)
    assert "python tools/refresh_notebooks.py notebooks/01_tiny.py" in str(err.value)
    assert "make notebooks" not in str(err.value)
