"""The autoencoder lab recipe (smlib.experiments.autoencoders): bit-exact resume of an interrupted run, the run
cache, and one-line errors for bad input (unknown variant or regularizer, a DSM block that does not divide the
latent, a checkpoint written for another config)."""
import json

import pytest
import torch

from smlib.data import image_batch
from smlib.experiments import autoencoders as lab
from smlib.train import fit, load_checkpoint

# A micro budget: 32 px images, a 3-level AE of width 8 (f4: 8x8x4 latents), a few steps.
TINY = dict(ae_channels=(8, 8, 8), n_train=32, steps=6, batch_size=8, warmup_steps=2, log_every=2, ckpt_every=3,
            fid_n=0, n_spectrum=8, n_examples=2, lowpass_ks=(0, 8), eval_batch=8)


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_images(n=32):
    return image_batch("deadleaves", n, 32, seed=0)


def trained_state(variant, out_dir, images, interrupt_at=None, **extra):
    """Weights after TINY['steps'] steps; with ``interrupt_at`` the run stops there and a new process-like call
    (fresh recipe, fresh task) resumes it from the checkpoint on disk."""
    overrides = {**TINY, **extra}
    def one_call(max_steps):
        recipe = lab.build_recipe(variant, "ci", seed=0, dataset="deadleaves", **overrides)
        task = lab.AutoencoderTask(recipe)
        tc = lab.train_config(recipe.config, 0, "cpu", out_dir)
        return fit(task, tc, images, resume=True, progress=False, max_steps_this_call=max_steps)
    if interrupt_at is not None:
        first = one_call(interrupt_at)
        assert not first.completed and first.step == interrupt_at
    result = one_call(None)
    assert result.completed and result.step == TINY["steps"]
    return load_checkpoint(result.checkpoint)


@pytest.mark.parametrize("variant,extra", [("dsm", {}), ("esm", {"gan": True, "gan_start": 2})],
                         ids=["dsm-random-masks", "esm-with-patchgan"])
def test_interrupted_run_resumes_to_the_same_weights(tmp_path, variant, extra):
    images = tiny_images()
    straight = trained_state(variant, tmp_path / "straight", images, **extra)
    resumed = trained_state(variant, tmp_path / "resumed", images, interrupt_at=3, **extra)
    for part in ("model", "optimizer") + (("aux_model",) if extra.get("gan") else ()):
        a, b = straight[part], resumed[part]
        flat_a = {k: v for k, v in _flatten(a)}
        flat_b = {k: v for k, v in _flatten(b)}
        assert flat_a.keys() == flat_b.keys()
        for k in flat_a:
            assert torch.equal(flat_a[k], flat_b[k]), f"{part}.{k} differs after resume"


def _flatten(tree, prefix=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _flatten(v, f"{prefix}{k}.")
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            yield from _flatten(v, f"{prefix}{i}.")
    elif isinstance(tree, torch.Tensor):
        yield prefix, tree


def test_fit_autoencoder_writes_result_reuses_it_and_loads_weights(tmp_path):
    kw = dict(dataset="deadleaves", device="cpu", runs_root=tmp_path, **TINY)
    first = lab.fit_autoencoder("plain", "ci", **kw)
    assert not first["cached"] and first["steps"] == TINY["steps"]
    m = first["metrics"]
    assert m["latent_shape"] == [4, 8, 8] and set(m["lowpass_psnr"]) == {"0", "8"}
    assert abs(sum(m["spectra"]["p_z"]) - 1) < 1e-6 and "rfid" not in m        # fid_n=0 skips Inception
    second = lab.fit_autoencoder("plain", "ci", **kw)
    assert second["cached"] and second["key"] == first["key"]
    ae = lab.load_autoencoder(first["run_dir"])
    x = tiny_images(4)
    with torch.no_grad():
        assert ae(x, sample=False)[0].shape == x.shape
    saved = json.loads((tmp_path / "ci" / f"plain-{first['key']}" / "result.json").read_text())
    assert saved["provenance"]["git_commit"] is None or len(saved["provenance"]["git_commit"]) == 40


def test_a_checkpoint_from_another_config_is_refused(tmp_path):
    kw = dict(dataset="deadleaves", device="cpu", **TINY)
    lab.fit_autoencoder("plain", "ci", out_dir=tmp_path / "run", evaluate=False, **kw)
    with pytest.raises(ValueError, match="another config"):
        lab.fit_autoencoder("esm", "ci", out_dir=tmp_path / "run", evaluate=False, **kw)


def test_bad_input_gives_one_clear_line():
    with pytest.raises(ValueError, match="unknown autoencoder variant 'vqgan'.*known: plain"):
        lab.build_recipe("vqgan", "ci", **TINY)
    with pytest.raises(ValueError, match="unknown regularizer 'fourier'"):
        lab.build_recipe("plain", "ci", regularizers=["fourier"], **TINY)
    with pytest.raises(ValueError, match="DSM block 16 does not divide the 8x8 latent"):
        lab.build_recipe("dsm", "ci", dsm_block=16, **TINY)
    with pytest.raises(KeyError, match="unknown autoencoder setting"):
        lab.resolve_config("ci", learning_rate=1e-3)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        lab.resolve_config("huge")
    assert "\n" not in str(_error_of(lambda: lab.build_recipe("vqgan", "ci")))


def _error_of(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return e
    raise AssertionError("no error raised")


def test_cli_reports_bad_input_without_a_traceback(capsys):
    with pytest.raises(SystemExit) as exit_info:
        lab.cli(["--variant", "vqgan", "--runs-root", "/nonexistent"])
    assert "unknown autoencoder variant 'vqgan'" in str(exit_info.value)


def test_variant_specs_follow_the_authors_settings():
    esm, dsm, sd = (lab.build_recipe(v, "ci", **TINY).spec for v in ("esm", "dsm", "sd-vae"))
    assert esm == {"esm": {"weight": 0.01, "delta": 1.0}}
    assert dsm["dsm"]["ks"] == (0, 8, 10, 12) and dsm["dsm"]["block"] == 8
    # the authors' 1e-6 on a 32x32 f8 grid, rescaled per latent position to the 8x8 grid: x16
    assert sd["kl"]["weight"] == pytest.approx(1.6e-5) and sd["kl"]["reduction"] == "sum"
