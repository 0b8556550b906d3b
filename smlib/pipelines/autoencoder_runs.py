"""A lab run folder (``runs/autoencoders/<preset>/<variant>-<key>/``): what its ``result.json`` records and how a
run is read back from it. The folder is self-contained: its record names its own files relative to itself
(``"checkpoint": "last.pt"``), so a copied or moved folder carries its own weights, and weights that do not load
are refused in one line, never replaced by another run's through a stored path.

    run = read_run("runs/autoencoders/small/esm-1a2b3c4d5e")     # its result, files located where it is now
    model = load_autoencoder(run, device="cuda")                   # its trained AE, in eval mode
"""
from __future__ import annotations

from pathlib import Path

from smlib.device import resolve_device
from smlib.models.autoencoder import AEConfig, AutoEncoder
from smlib.provenance import repo_relative, resolve_repo_path
from smlib.results import read_result
from smlib.train import load_checkpoint


def folder_record(result: dict) -> dict:
    """A run's result as its folder keeps it (``result.json``): its own files named relative to the folder
    (``"checkpoint": "last.pt"``, ``"run_dir": "."``, a fine-tuning's base as ``"../<variant>-<key>"``), so the
    record names no folder of the machine and stays true when the folder is copied or moved."""
    out = dict(result, run_dir=".", checkpoint=Path(result["checkpoint"]).name)
    if out.get("init_run"):
        out["init_run"] = f"../{Path(out['init_run']).name}"
    return out


def located(record: dict, folder: str | Path) -> dict:
    """A run folder's record with its files where they are now: ``run_dir`` the folder, ``checkpoint`` the file of
    that name inside it, ``init_run`` the sibling of that name (repo-relative inside the checkout). Records written
    before folders named their own files (``"checkpoint": "runs/autoencoders/.../last.pt"``) keep only the name."""
    folder = Path(folder).resolve()
    out = dict(record, run_dir=repo_relative(folder), checkpoint=repo_relative(folder / Path(record["checkpoint"]).name))
    if out.get("init_run"):
        out["init_run"] = repo_relative(folder.parent / Path(out["init_run"]).name)
    return out


def read_run(folder: str | Path) -> dict:
    """The ``result.json`` of a lab run folder (or that file itself), its files located in the folder
    (:func:`located`); a path that is not one, or a file that is not valid JSON, is refused in one line."""
    path = Path(folder)
    result_file = path / "result.json" if path.is_dir() else path
    if not result_file.is_file() or result_file.name != "result.json":
        raise FileNotFoundError(f"{folder} is not an autoencoder run folder: expected result.json and last.pt in it "
                                "(runs/autoencoders/<preset>/<variant>-<key>/), as fit_autoencoder writes them.")
    result = read_result(result_file)
    if not isinstance(result, dict) or "ae" not in result or "checkpoint" not in result:
        raise ValueError(f"{result_file} is not an autoencoder run's result (no 'ae' or 'checkpoint'); pass a folder "
                         "written by fit_autoencoder.")
    return located(result, result_file.parent)


def weights_file(run: dict | str | Path) -> Path:
    """The weights of a run: for a run folder (or its ``result.json``), the checkpoint file *inside that folder*,
    so a copied or moved folder carries its own weights and never reads another run's through a stored path; for a
    result dict returned by :func:`fit_autoencoder` or :func:`read_run` (files located), its checkpoint."""
    if isinstance(run, dict):
        return resolve_repo_path(run["checkpoint"])
    path = Path(run)
    folder = path if path.is_dir() else path.parent
    return folder / Path(read_run(folder)["checkpoint"]).name


def load_autoencoder(run: dict | str | Path, device="cpu") -> AutoEncoder:
    """The trained AE of a run (a result dict, its run folder or its ``result.json``), in eval mode. Weights that
    do not load (missing, cut short, not this architecture) are refused in one line naming the file."""
    result = run if isinstance(run, dict) else read_run(run)
    cfg = dict(result["ae"])
    cfg["channels"] = tuple(cfg["channels"])
    model = AutoEncoder(AEConfig(**cfg))
    path = weights_file(run)
    try:
        state = load_checkpoint(path)["model"]
        model.load_state_dict({k[3:]: v for k, v in state.items() if k.startswith("ae.")})
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: the run's weights are missing; train it again (fit_autoencoder) or copy "
                                "the whole run folder.") from None
    except Exception as e:        # a corrupt or foreign file: never fall back to other weights
        raise ValueError(f"{path} does not hold this run's autoencoder weights ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:160]}); restore the run folder or train it again.") from None
    return model.to(resolve_device(device)).eval()


__all__ = ["folder_record", "located", "read_run", "weights_file", "load_autoencoder"]
