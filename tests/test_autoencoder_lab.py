"""The autoencoder lab recipe (smlib.experiments.autoencoders): bit-exact resume of an interrupted run, the run
cache, and one-line errors for bad input (unknown variant or regularizer, a DSM block that does not divide the
latent, a checkpoint written for another config)."""
import json

import pytest
import torch

from smlib.data import image_batch
from smlib.pipelines import autoencoder as lab
from smlib.pipelines.autoencoder_config import list_variants
from smlib.train import fit, load_checkpoint

# A micro budget: 32 px images, a 3-level AE of width 8 (f4: 8x8x4 latents), a few steps.
TINY = dict(ae_channels=(8, 8, 8), n_train=32, steps=6, batch_size=8, warmup_steps=2, log_every=2, ckpt_every=3,
            fid_n=0, n_spectrum=8, n_examples=2, lowpass_ks=(0, 8), eval_batch=8, dataset="deadleaves")


def tiny(**extra):
    return lab.AutoencoderConfig.at("ci", **{**TINY, **extra})


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_images(n=32):
    return image_batch("deadleaves", n, 32, seed=0)


def trained_state(variant, out_dir, images, interrupt_at=None, **extra):
    """Weights after TINY['steps'] steps; with ``interrupt_at`` the run stops there and a new process-like call
    (fresh recipe, fresh task) resumes it from the checkpoint on disk."""
    def one_call(max_steps):
        recipe = lab.build_recipe(variant, tiny(**extra), seed=0)
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
    kw = dict(device="cpu", runs_dir=tmp_path)
    first = lab.fit_autoencoder("plain", tiny(), **kw)
    assert not first["cached"] and first["steps"] == TINY["steps"]
    m = first["metrics"]
    assert m["latent_shape"] == [4, 8, 8] and set(m["lowpass_psnr"]) == {"0", "8"}
    assert abs(sum(m["spectra"]["p_z"]) - 1) < 1e-6 and "rfid" not in m        # fid_n=0 skips Inception
    second = lab.fit_autoencoder("plain", tiny(), **kw)
    assert second["cached"] and second["key"] == first["key"]
    ae = lab.load_autoencoder(first["run_dir"])
    x = tiny_images(4)
    with torch.no_grad():
        assert ae(x, sample=False)[0].shape == x.shape
    saved = json.loads((tmp_path / "autoencoders" / "ci" / f"plain-{first['key']}" / "result.json").read_text())
    assert saved["provenance"]["git_commit"] is None or len(saved["provenance"]["git_commit"]) == 40


def test_a_checkpoint_from_another_config_is_refused(tmp_path):
    lab.fit_autoencoder("plain", tiny(), device="cpu", out_dir=tmp_path / "run", evaluate=False)
    with pytest.raises(ValueError, match="another config"):
        lab.fit_autoencoder("esm", tiny(), device="cpu", out_dir=tmp_path / "run", evaluate=False)


def test_bad_input_gives_one_clear_line():
    with pytest.raises(ValueError, match="unknown autoencoder variant 'vqgan'.*known: plain"):
        lab.build_recipe("vqgan", tiny())
    with pytest.raises(ValueError, match="unknown regularizer 'fourier'"):
        lab.build_recipe("plain", tiny(), regularizers=["fourier"])
    with pytest.raises(ValueError, match="DSM block 16 does not divide the 8x8 latent"):
        lab.build_recipe("dsm", tiny(dsm_block=16))
    assert "\n" not in str(_error_of(lambda: lab.build_recipe("vqgan", "ci")))


def _error_of(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return e
    raise AssertionError("no error raised")


def test_cli_reports_bad_input_in_one_line_and_exit_2(capsys):
    from smlib.cli import main

    assert main(["autoencoder", "--variant", "vqgan", "--runs-dir", "/nonexistent", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown arm(s) vqgan for autoencoders") and "\n" not in err
    assert main(["autoencoder", "--set", "learning_rate=0.1"]) == 2
    assert "unknown AutoencoderConfig setting(s) learning_rate" in capsys.readouterr().err


def test_built_objectives_carry_the_variant_settings_to_the_losses():
    """What the regularizers actually receive, not what the variant table says: the KL weight scales with the
    latent grid as the docstring derives (per-position balance against a pixel-mean L1), DSM's masks follow the
    block, and every variant builds."""
    for name in list_variants():
        if name != "vf":   # vf needs the EfficientNet-Lite2 wheel; built in test_regularizers
            assert lab.build_recipe(name, tiny()).ae_loss.describe()
    sd8 = lab.build_recipe("sd-vae", tiny()).spec["kl"]["weight"]                       # 8x8 latent
    sd16 = lab.build_recipe("sd-vae", tiny(resolution=64)).spec["kl"]["weight"]         # 16x16 latent
    assert sd8 == pytest.approx(1e-6 * (32 * 32) / (8 * 8)) and sd8 / sd16 == pytest.approx(4.0)
    dsm4 = lab.build_recipe("dsm", tiny(dsm_block=4)).spec["dsm"]
    assert dsm4["block"] == 4 and dsm4["ks"] == (0, 4, 5, 6)          # u+v <= 2b-2-k keeps the authors' shape
