"""EDM's trained networks in smlib's U-Net (smlib.models.edm_weights), against EDM's own code: the fixture holds a
small DDPM++ SongUNet of NVlabs/edm@008a4e5 inside its EDMPrecond (random weights, three classes, made by
tools/edm_fixture.py) and its denoiser's output on fixed inputs; converted, smlib's EDM denoiser gives the same."""
from pathlib import Path

import pytest
import torch

from smlib.diffusion.edm import EDM
from smlib.models import edm_weights
from smlib.models.edm_weights import EDM_CIFAR10, unet_from_edm, unet_state_from_edm

FIXTURE = torch.load(Path(__file__).with_name("fixtures") / "edm_songunet_tiny.pt", weights_only=True)
ARCH = dict(model_channels=FIXTURE["config"]["model_channels"], channel_mult=tuple(FIXTURE["config"]["channel_mult"]),
            num_blocks=FIXTURE["config"]["num_blocks"], attn_resolutions=tuple(FIXTURE["config"]["attn_resolutions"]))


def denoised(net):
    # EDM's class labels are one-hot rows (zero: no label); smlib's are indices with a null class
    y = torch.where(FIXTURE["labels"].sum(1) > 0, FIXTURE["labels"].argmax(1), torch.tensor(net.num_classes))
    with torch.no_grad():
        return EDM().denoise(net.eval(), FIXTURE["x"], FIXTURE["sigma"], y, t_scale=net.t_scale)


def test_converted_weights_give_edms_denoiser_output():
    net = unet_from_edm(FIXTURE["state"], 8, 3, num_classes=3, **ARCH)
    got, want = denoised(net), FIXTURE["out"]
    assert want.abs().mean() > 0.1                                     # a signal, not zeros
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert FIXTURE["labels"][3].sum() == 0                             # the null label is checked too


def test_the_qkv_rows_must_be_permuted(monkeypatch):
    monkeypatch.setattr(edm_weights, "_interleaved_to_blocks", lambda t: t)
    net = unet_from_edm(FIXTURE["state"], 8, 3, num_classes=3, **ARCH)
    assert (denoised(net) - FIXTURE["out"]).abs().max() > 1e-3


def test_a_file_loads_and_a_mismatch_is_one_line(tmp_path):
    path = tmp_path / "edm.pt"
    torch.save(FIXTURE["state"], path)
    assert isinstance(unet_from_edm(path, 8, 3, num_classes=3, **ARCH), torch.nn.Module)
    with pytest.raises(ValueError, match="do not fit this UNet.*EDM_CIFAR10"):
        unet_from_edm(path, 8, 3, num_classes=3, **{**ARCH, "model_channels": 16})
    with pytest.raises(ValueError, match="not a DDPM\\+\\+ SongUNet state dict"):
        unet_state_from_edm({"blocks.0.weight": torch.zeros(1)})
    assert set(EDM_CIFAR10) == set(ARCH)
