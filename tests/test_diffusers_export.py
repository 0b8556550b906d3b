"""Export of an smlib AutoEncoder to diffusers' AutoencoderKL (smlib.models.diffusers_export): save, reload with
``from_pretrained``, the same posterior and reconstructions to float round-off, the same audit; the two configs that
do not map exactly are refused in one line."""
import json

import diffusers
import pytest
import torch

from smlib.audit import measure, probe_values
from smlib.data import image_batch
from smlib.models.autoencoder import AEConfig, AutoEncoder
from smlib.models.diffusers_export import export_problems, export_to_diffusers

pytestmark = pytest.mark.usefixtures("one_thread")


def random_ae(seed=0, **kw):
    """A small AE whose every weight (GroupNorm affines included) is off its default init, so that a swapped or
    dropped tensor in the mapping changes the outputs."""
    cfg = dict(channels=(8, 16, 16), layers_per_block=2, latent_channels=4, resolution=32, groups=4)
    torch.manual_seed(seed)
    model = AutoEncoder(AEConfig(**{**cfg, **kw})).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("attention", [True, False], ids=["mid-attention", "no-attention"])
def test_export_reloads_with_from_pretrained_and_reconstructs_the_same(tmp_path, attention):
    model = random_ae(attention=attention)
    out = export_to_diffusers(model, tmp_path / "vae", scaling_factor=0.5)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["_class_name"] == "AutoencoderKL" and cfg["scaling_factor"] == 0.5 and cfg["sample_size"] == 32
    assert cfg["mid_block_add_attention"] is attention
    kl = diffusers.AutoencoderKL.from_pretrained(out, low_cpu_mem_usage=False).eval()
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        ours, theirs = model.encode(x), kl.encode(x).latent_dist
        torch.testing.assert_close(theirs.mean, ours.mean, rtol=0, atol=1e-5)
        torch.testing.assert_close(theirs.logvar, ours.logvar, rtol=0, atol=1e-5)
        z = ours.mean
        x_ours, x_theirs = model.decode(z), kl.decode(z).sample
    assert x_ours.abs().max() > 0.1                      # not a trivially small output
    torch.testing.assert_close(x_theirs, x_ours, rtol=0, atol=1e-5)


def test_audit_reads_the_same_numbers_from_both_formats(tmp_path):
    model = random_ae(seed=2, layers_per_block=1)
    kl = diffusers.AutoencoderKL.from_pretrained(export_to_diffusers(model, tmp_path / "vae"),
                                                 low_cpu_mem_usage=False)
    x = image_batch("deadleaves", 6, 32, seed=0)
    a = probe_values(measure(model, x, n_bands=2))
    b = probe_values(measure(kl, x, n_bands=2))
    assert a.keys() == b.keys()
    for k in a:
        assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-6), k


@pytest.mark.parametrize("kw,reason", [({"downsample": "avgpool"}, "downsample='avgpool'"),
                                       ({"channels": (8, 12), "groups": 8}, "not divisible by groups=8")],
                         ids=["avgpool", "groups-do-not-divide"])
def test_configs_that_do_not_map_are_refused_in_one_line(tmp_path, kw, reason):
    model = random_ae(**{"layers_per_block": 1, **kw})
    assert export_problems(model.config)
    with pytest.raises(ValueError) as err:
        export_to_diffusers(model, tmp_path / "vae")
    message = str(err.value)
    assert reason in message and "\n" not in message and "does not map exactly" in message
    assert not (tmp_path / "vae").exists()


def test_the_book_configs_map():
    from smlib.models.autoencoder import AE_CONFIGS

    assert {name: export_problems(cfg) for name, cfg in AE_CONFIGS.items()} == dict.fromkeys(AE_CONFIGS, [])
