"""Write tests/fixtures/edm_songunet_tiny.pt: a small randomly initialised network of EDM's own code (DDPM++ SongUNet
inside its EDMPrecond), its state dict, and its denoiser's output on fixed inputs, so that the test of
smlib.models.edm_weights compares smlib against EDM without EDM's code on the test machine.

    git clone https://github.com/NVlabs/edm /tmp/edm && git -C /tmp/edm checkout 008a4e5
    python tools/edm_fixture.py /tmp/edm

Only tensors are written (EDM's classes stay here): the test loads the file with ``weights_only=True``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

CONFIG = dict(img_resolution=8, in_channels=3, out_channels=3, label_dim=3, augment_dim=9, model_channels=8,
              channel_mult=[1, 2], num_blocks=1, attn_resolutions=[4], dropout=0.0, embedding_type="positional",
              channel_mult_noise=1, encoder_type="standard", decoder_type="standard", resample_filter=[1, 1])


def main(edm_source: str) -> None:
    sys.path.insert(0, edm_source)
    from training.networks import EDMPrecond  # noqa: PLC0415 - EDM's code, from the folder given

    torch.manual_seed(0)
    net = EDMPrecond(img_resolution=8, img_channels=3, label_dim=3, model_type="SongUNet",
                     **{k: v for k, v in CONFIG.items()
                        if k not in ("img_resolution", "in_channels", "out_channels", "label_dim")}).eval()
    with torch.no_grad():   # EDM zero-initialises its output layers; random weights make the comparison bite
        for p in net.parameters():
            p.normal_(0, 0.2)
    x = torch.randn(4, 3, 8, 8)
    sigma = torch.tensor([0.01, 0.5, 3.0, 80.0])
    labels = torch.eye(3)[[0, 1, 2, 0]]
    labels[3] = 0                               # no label: EDM's zero vector, smlib's null class
    with torch.no_grad():
        out = net(x, sigma, labels)
    fixture = {"state": net.model.state_dict(), "x": x, "sigma": sigma, "labels": labels, "out": out,
               "config": {k: (list(v) if isinstance(v, list) else v) for k, v in CONFIG.items()}}
    path = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "edm_songunet_tiny.pt"
    torch.save(fixture, path)
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/edm_fixture.py PATH_TO_NVLABS_EDM_CHECKOUT")
    main(sys.argv[1])
