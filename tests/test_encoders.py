"""The encoder registry: token-grid shapes, frozen behaviour, that the offline weights really are the pretrained
ones (an independent loader, BN statistics, a known photo, CIFAR images), and DINOv2's clear offline error."""
import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from smlib.models import WeightsUnavailableError, available_encoders, build_encoder
from smlib.models import encoders as enc_mod


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    # Shared 2-core machine: one OpenMP thread is far faster than two that compete with other jobs.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def effnet():
    try:
        return build_encoder("efficientnet-lite2", device="cpu")
    except FileNotFoundError as err:
        pytest.skip(str(err))


def test_registry_names_and_unknown():
    assert {"efficientnet-lite2", "dinov2-vits14", "dinov2-vitb14", "inception-pool3", "inception-mixed6e",
            "random-cnn"} <= set(available_encoders())
    with pytest.raises(KeyError, match="unknown encoder"):
        build_encoder("resnet-9000")


# ---------------------------------------------------------------------------------------------- random CNN
def test_random_cnn_grid_frozen_and_seeded():
    state = torch.random.get_rng_state()
    enc = build_encoder("random-cnn", device="cpu")
    assert torch.equal(state, torch.random.get_rng_state())  # building does not consume the caller's RNG
    assert "tests only" in enc.label and not enc.pretrained
    x = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_()
    y = enc(x)
    assert y.shape == (2, enc.out_dim, *enc.grid) == (2, 64, 8, 8)
    assert enc.tokens(x).shape == (2, 64, 64)
    assert torch.allclose(enc.tokens(x)[:, 9], y[:, :, 1, 1])  # row-major token order
    assert not any(p.requires_grad for p in enc.parameters())
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # usable inside a loss
    torch.nn.Sequential(enc).train()
    assert not enc.training
    assert torch.equal(build_encoder("random-cnn", device="cpu")(x), y)


# ------------------------------------------------------------------------------------------ EfficientNet
def test_effnet_weights_are_the_wheels(effnet):
    ckpt = torch.load(enc_mod.efficientnet_lite2_weights_path(), map_location="cpu", weights_only=True)
    model = effnet.trunk.model
    assert torch.equal(model.conv_stem.weight, ckpt["_conv_stem.weight"])
    assert torch.equal(model.classifier.weight, ckpt["_fc.weight"])
    assert torch.equal(model.bn2.running_var, ckpt["_bn1.running_var"])  # efficientnet_pytorch's head BN is _bn1
    # Loaded BN statistics, not the 0/1 of a fresh model.
    assert model.bn1.running_mean.abs().mean() > 1e-2 and (model.bn1.running_var - 1).abs().mean() > 1e-2
    assert "offline wheel" in effnet.label and "9656183e" in effnet.source


def test_effnet_grid_sizes(effnet):
    assert (effnet.out_dim, effnet.input_size, effnet.grid) == (1280, 260, (9, 9))
    with torch.no_grad():
        assert effnet(torch.zeros(1, 3, 32, 32)).shape == (1, 1280, 9, 9)
    small = build_encoder("efficientnet-lite2", device="cpu", input_size=128, layer="blocks.4")
    assert (small.out_dim, small.stride, small.grid) == (120, 16, (8, 8))
    with torch.no_grad():
        assert small(torch.zeros(1, 3, 64, 64)).shape == (1, 120, 8, 8)
    with pytest.raises(ValueError, match="unknown EfficientNet-Lite2 layer"):
        build_encoder("efficientnet-lite2", device="cpu", layer="blocks.9")


def test_effnet_normalisation_is_tf_lite(effnet):
    # TF EfficientNet-Lite: (x_uint8 - 127) / 128.
    u8 = torch.randint(0, 256, (1, 3, 260, 260)).float()
    assert torch.allclose(effnet.preprocess(u8 / 127.5 - 1), (u8 - 127) / 128, atol=1e-5)


def test_effnet_key_mapping_fails_loudly(monkeypatch):
    import timm

    with pytest.raises(ValueError, match="key count mismatch"):
        enc_mod.load_efficientnet_lite2_weights(timm.create_model("tf_efficientnet_lite0", pretrained=False))
    real_load = torch.load

    def shuffled(*args, **kwargs):  # same count, one tensor of the wrong shape
        sd = real_load(*args, **kwargs)
        sd["_blocks.0._depthwise_conv.weight"] = torch.zeros(1, 1, 3, 3)
        return sd
    monkeypatch.setattr(torch, "load", shuffled)
    with pytest.raises(ValueError, match="do not line up"):
        enc_mod.load_efficientnet_lite2_weights(timm.create_model("tf_efficientnet_lite2", pretrained=False))


def test_effnet_logits_match_independent_loader(effnet):
    lite = pytest.importorskip("efficientnet_lite_pytorch")
    ref = lite.EfficientNet.from_pretrained("efficientnet-lite2",
                                            weights_path=enc_mod.efficientnet_lite2_weights_path()).eval()
    x = torch.rand(2, 3, 96, 80) * 2 - 1
    with torch.no_grad():
        ours = effnet.trunk.model.forward_head(effnet(x))
        theirs = ref(effnet.preprocess(x))
    assert torch.allclose(ours, theirs, atol=1e-4)


def test_effnet_classifies_grace_hopper(effnet):
    """A natural photo shipped with matplotlib: the classic TF-tutorial answer is 'military uniform' (652)."""
    cbook = pytest.importorskip("matplotlib.cbook")
    from PIL import Image

    path = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    if not path.is_file():
        pytest.skip("matplotlib sample data not installed")
    img = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        probs = effnet.trunk.model.forward_head(effnet(img)).softmax(-1)[0]
    top5 = probs.topk(5).indices.tolist()
    assert top5[0] == 652 and probs[652] > 0.15          # military uniform
    assert {457, 906} & set(top5)                         # bow tie / Windsor tie


def _cifar_test_images(per_class: dict[str, int]):
    root = Path(os.environ.get("SMLIB_DATA", "/work/shared/data"))
    archive = root / "cifar10-jpeg.tar.gz"
    if not archive.is_file():
        pytest.skip(f"{archive} not found (set SMLIB_DATA)")
    from PIL import Image

    images, labels = [], []
    with tarfile.open(archive) as tar:  # test/airplane and test/automobile come first in the archive
        for member in tar:
            parts = member.name.split("/")
            wanted = len(parts) == 4 and parts[1] == "test" and labels.count(parts[2]) < per_class.get(parts[2], 0)
            if member.isfile() and wanted:
                images.append(np.array(Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB")))
                labels.append(parts[2])
            if len(labels) == sum(per_class.values()):
                break
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1, labels


def test_effnet_features_separate_cifar_classes():
    """Stable property on real data: pooled features of 8 airplanes and 8 cars, leave-one-out nearest class mean."""
    x, labels = _cifar_test_images({"airplane": 8, "automobile": 8})
    enc = build_encoder("efficientnet-lite2", device="cpu", input_size=128)
    with torch.no_grad():
        f = enc(x).mean((2, 3)).double().numpy()
        assert np.array_equal(f, enc(x).mean((2, 3)).double().numpy())  # deterministic
    f = f - f.mean(0)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    is_plane = np.array([lab == "airplane" for lab in labels])
    correct = 0
    for i in range(len(f)):
        rest = np.arange(len(f)) != i
        plane_score, car_score = f[i] @ f[rest & is_plane].mean(0), f[i] @ f[rest & ~is_plane].mean(0)
        correct += bool((plane_score > car_score) == is_plane[i])
    assert correct >= 14


# ------------------------------------------------------------------------------------------------ DINOv2
def test_dinov2_architecture_grid_without_weights():
    enc = build_encoder("dinov2-vits14", pretrained=False, device="cpu")
    assert (enc.out_dim, enc.input_size, enc.grid) == (384, 224, (16, 16))
    assert "random init" in enc.label
    with torch.no_grad():
        assert enc(torch.zeros(1, 3, 32, 32)).shape == (1, 384, 16, 16)
    with pytest.raises(ValueError, match="divisible by the patch size"):
        build_encoder("dinov2-vits14", pretrained=False, device="cpu", input_size=100)


def test_dinov2_offline_raises_clear_error(monkeypatch):
    monkeypatch.setattr(enc_mod, "_cached_hub_file", lambda repo_id: None)
    monkeypatch.setattr(enc_mod, "_hub_reachable", lambda *a, **k: False)
    with pytest.raises(WeightsUnavailableError, match="efficientnet-lite2") as info:
        build_encoder("dinov2-vitb14", device="cpu")
    assert "\n" not in str(info.value)


def test_dinov2_failed_download_raises_clear_error(monkeypatch):
    import timm.models._builder as builder

    def no_network(*args, **kwargs):
        raise OSError("simulated: network unreachable")
    monkeypatch.setattr(enc_mod, "_cached_hub_file", lambda repo_id: None)
    monkeypatch.setattr(enc_mod, "_hub_reachable", lambda *a, **k: True)
    for fn in ("load_state_dict_from_hf", "load_state_dict_from_url", "download_cached_file"):
        monkeypatch.setattr(builder, fn, no_network)
    with pytest.raises(WeightsUnavailableError, match="DINOv2 weights cannot be downloaded here") as info:
        build_encoder("dinov2-vits14", device="cpu")
    assert "simulated" in str(info.value) and "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------- Inception
def test_inception_encoders_match_fid_features():
    from smlib.metrics import InceptionFeatures

    try:
        pool3 = build_encoder("inception-pool3", device="cpu")
    except FileNotFoundError as err:
        pytest.skip(str(err))
    mixed = build_encoder("inception-mixed6e", device="cpu")
    assert "biases FID" in pool3.label and (mixed.out_dim, mixed.grid) == (768, (17, 17))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        tokens = pool3(x)
        assert mixed(x[:1]).shape == (1, 768, 17, 17)
    assert tokens.shape == (2, 2048, 1, 1)
    fid_feats = InceptionFeatures("cpu", quantize=False)(x)
    assert np.abs(tokens.flatten(1).double().numpy() - fid_feats).max() < 1e-4
    with pytest.raises(ValueError, match="fixed at 299"):
        build_encoder("inception-pool3", device="cpu", input_size=224)
