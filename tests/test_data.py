"""smlib.data: datasets by name, roots and archives, transforms, dead leaves.

Real data come from the offline copies in $SMLIB_DATA (default /work/shared/data). Unpacking the CIFAR-10 archive
(60,000 small files) takes 10-40 s on a busy 2-core machine, so the tests that read the real archives share the
persistent cache ($SMLIB_CACHE, else ~/.cache/smlib: the one the notebooks use) and unpack at most once, ever;
every other test gets its own empty cache in tmp_path.
"""
from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from smlib.data import (CIFAR10_CLASSES, DatasetNotFoundError, cache_dir, extract_once, image_batch, list_datasets,
                        load_dataset, make_loader, random_hflip)
from smlib.data import roots

SHARED_DATA = Path(os.environ.get("SMLIB_DATA") or "/work/shared/data")


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """The persistent cache (archives unpacked there once are reused by later sessions), or a session tmp dir."""
    path = cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    return tmp_path_factory.mktemp("smlib-cache")


@pytest.fixture
def real_data(monkeypatch, shared_cache) -> Path:
    """$SMLIB_DATA -> the offline data, $SMLIB_CACHE -> the shared cache."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"offline data not found at {SHARED_DATA}: set SMLIB_DATA to the shared data folder")
    monkeypatch.setenv("SMLIB_DATA", str(SHARED_DATA))
    monkeypatch.setenv("SMLIB_CACHE", str(shared_cache))
    return SHARED_DATA


@pytest.fixture
def tmp_cache(monkeypatch, tmp_path) -> Path:
    """An empty private cache and no $SMLIB_DATA."""
    monkeypatch.setenv("SMLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SMLIB_DATA", raising=False)
    return tmp_path / "cache"


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _check_images(ds, resolution: int, n: int, channels: int = 3, textured: bool = True) -> None:
    assert len(ds) == n
    for i in (0, n - 1):
        x, y = ds[i]
        assert x.shape == (channels, resolution, resolution) and x.dtype == torch.float32
        assert -1.0 <= x.min() and x.max() <= 1.0 and (x.std() > 0.01 or not textured)
        assert isinstance(y, int)


def _radial_power_slope(images: np.ndarray, fmin: float, fmax: float) -> float:
    """-slope of log(radially averaged FFT power) vs log(frequency in cycles/px) over [fmin, fmax].

    images: (N, H, H) float. Mean removed and a Hann window applied per image (the images are not periodic).
    """
    n = images.shape[-1]
    x = images - images.mean(axis=(1, 2), keepdims=True)
    w = np.hanning(n)
    power = (np.abs(np.fft.fft2(x * np.outer(w, w))) ** 2).mean(0)
    f = np.fft.fftfreq(n)
    ring = np.rint(np.hypot(f[:, None], f[None, :]) * n).astype(int).ravel()
    radial = np.bincount(ring, power.ravel()) / np.bincount(ring)
    freqs = np.arange(radial.size) / n
    sel = (freqs >= fmin) & (freqs <= fmax)
    return -np.polyfit(np.log(freqs[sel]), np.log(radial[sel]), 1)[0]


# ------------------------------------------------------------------------------------------------ names and errors
def test_list_datasets():
    assert list_datasets() == ["cifar10", "celeba", "mnist", "folder", "deadleaves"]


def test_unknown_name_is_one_line_value_error_listing_names():
    with pytest.raises(ValueError) as e:
        load_dataset("imagenet")
    msg = str(e.value)
    assert "\n" not in msg and "imagenet" in msg
    assert all(name in msg for name in list_datasets())


def test_unknown_option_and_bad_split_are_value_errors():
    with pytest.raises(ValueError, match="unknown option.*colour"):
        load_dataset("deadleaves", colour="red")
    with pytest.raises(ValueError, match="split"):
        load_dataset("deadleaves", split="holdout")
    with pytest.raises(ValueError, match="resolution"):
        load_dataset("deadleaves", resolution=0)


@pytest.mark.parametrize("name", ["cifar10", "celeba", "mnist"])
def test_missing_data_is_one_clear_error(tmp_cache, tmp_path, monkeypatch, name):
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv("SMLIB_DATA", str(missing))
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset(name)
    msg = str(e.value)
    assert isinstance(e.value, FileNotFoundError)
    assert "\n" not in msg and name in msg and str(missing) in msg and "does not exist" in msg
    assert "SMLIB_DATA" in msg and "root=" in msg
    assert not missing.exists() and not (tmp_cache / "extracted").exists()  # nothing created on the way


def test_missing_data_with_default_root_names_the_cache(tmp_cache):
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("cifar10", root=None)
    assert str(tmp_cache / "data") in str(e.value) and "default cache" in str(e.value)


def test_celeba_download_is_refused_clearly(tmp_cache, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="cannot be downloaded.*SMLIB_DATA"):
        load_dataset("celeba", root=tmp_path, download=True)


# ------------------------------------------------------------------------------------------------ archives
def _fake_cifar_archive(root: Path) -> None:
    """cifar10-jpeg.tar.gz with PNGs whose pixel values encode (class, k), named k.png for k in 0, 2, 10."""
    src = root.parent / "src"
    for split in ("train", "test"):
        for label, c in enumerate(CIFAR10_CLASSES):
            for k in (0, 2, 10):  # as strings '10' < '2': only an integer sort gives 0, 2, 10
                _png(src / "cifar10-jpeg" / split / c / f"{k}.png", np.full((8, 8, 3), (label, k, 0), np.uint8))
    root.mkdir(parents=True)
    with tarfile.open(root / "cifar10-jpeg.tar.gz", "w:gz") as tf:
        tf.add(src / "cifar10-jpeg", arcname="cifar10-jpeg")


def test_archive_is_unpacked_once_into_the_cache(tmp_cache, tmp_path, monkeypatch):
    root = tmp_path / "data"
    _fake_cifar_archive(root)
    calls = []
    real_unpack = roots._unpack
    monkeypatch.setattr(roots, "_unpack", lambda a, d: (calls.append(a), real_unpack(a, d)))
    before = sorted(os.listdir(root))

    ds = load_dataset("cifar10", root=root, resolution=8)
    target = tmp_cache / "extracted" / "cifar10-jpeg"
    stamp = target.stat().st_mtime_ns
    test = load_dataset("cifar10", split="test", root=root, resolution=8)
    again = load_dataset("cifar10", root=root, resolution=8)

    assert len(calls) == 1 and target.stat().st_mtime_ns == stamp
    assert sorted(os.listdir(root)) == before                                   # the data root is only read
    assert [p.name for p in (tmp_cache / "extracted").iterdir()] == ["cifar10-jpeg"]  # no temp folder left
    assert len(ds) == len(test) == len(again) == 30
    assert Path(ds.source) == target / "cifar10-jpeg" / "train"
    # order: class (canonical), then file name as an integer; label = canonical class index
    got = [(round((x[0, 0, 0].item() + 1) * 127.5), round((x[1, 0, 0].item() + 1) * 127.5), y) for x, y in ds]
    assert got == [(c, k, c) for c in range(10) for k in (0, 2, 10)]


class _FakeTorchvisionCIFAR10:
    """Stands in for torchvision.datasets.CIFAR10 (which checks the md5 of the real batches): 6 images whose
    pixels hold their official index, labels 2, 0, 2, 1, 0, 1."""
    calls: list = []
    fail = False

    def __init__(self, root, train=True, download=False):
        type(self).calls.append((root, train, download))
        if type(self).fail:
            raise RuntimeError("no network")
        self.data = np.repeat(np.arange(6, dtype=np.uint8), 4 * 4 * 3).reshape(6, 4, 4, 3)
        self.targets = [2, 0, 2, 1, 0, 1]


def test_cifar10_official_layout_is_ordered_like_the_jpeg_layout(tmp_cache, tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", _FakeTorchvisionCIFAR10)
    monkeypatch.setattr(_FakeTorchvisionCIFAR10, "calls", [])
    batches = tmp_path / "data" / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    (batches / "data_batch_1").touch()
    ds = load_dataset("cifar10", root=tmp_path / "data", resolution=4)
    assert _FakeTorchvisionCIFAR10.calls == [(str(tmp_path / "data"), True, False)]
    # class-major, official order within a class: the JPEG layout's order, so item i is the same picture
    assert [(round((x[0, 0, 0].item() + 1) * 127.5), y) for x, y in ds] == [(1, 0), (4, 0), (3, 1), (5, 1),
                                                                            (0, 2), (2, 2)]


def test_cifar10_download_goes_to_the_cache_and_failure_is_clear(tmp_cache, tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", _FakeTorchvisionCIFAR10)
    monkeypatch.setattr(_FakeTorchvisionCIFAR10, "calls", [])
    assert len(load_dataset("cifar10", split="test", root=tmp_path, download=True, resolution=4)) == 6
    assert _FakeTorchvisionCIFAR10.calls == [(str(tmp_cache / "data"), False, True)]  # never into the data root
    monkeypatch.setattr(_FakeTorchvisionCIFAR10, "fail", True)
    with pytest.raises(DatasetNotFoundError, match="download into .* failed \\(no network\\)"):
        load_dataset("cifar10", root=tmp_path, download=True)


def test_extract_once_survives_losing_the_race(tmp_cache, tmp_path, monkeypatch):
    """Another process renames its copy into place first: ours is discarded and theirs is used."""
    archive = tmp_path / "pics.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("pics/a.png", _png_bytes(np.zeros((4, 4, 3), np.uint8)))
    real_unpack = roots._unpack

    def unpack_while_another_process_wins(a, dest):
        real_unpack(a, dest)
        real_unpack(a, tmp_cache / "extracted" / "pics")  # the winner's complete copy appears first

    monkeypatch.setattr(roots, "_unpack", unpack_while_another_process_wins)
    assert extract_once(archive) == tmp_cache / "extracted" / "pics"
    assert [p.name for p in (tmp_cache / "extracted").iterdir()] == ["pics"]


def _png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------ real data
def test_cifar10_from_offline_archive(real_data, shared_cache, monkeypatch):
    train = load_dataset("cifar10", split="train", resolution=32)   # unpacks once per cache, ever
    target = shared_cache / "extracted" / "cifar10-jpeg"
    stamp = (target.stat().st_ino, target.stat().st_mtime_ns)
    monkeypatch.setattr(roots, "_unpack", lambda *a: pytest.fail("the archive was unpacked a second time"))
    test = load_dataset("cifar10", split="test", resolution=32)
    assert (target.stat().st_ino, target.stat().st_mtime_ns) == stamp
    assert len(train) == 50000 and len(test) == 10000 and train.classes == CIFAR10_CLASSES

    small = load_dataset("cifar10", split="test", resolution=32, limit=20)
    _check_images(small, 32, 20)
    assert [small.label(i) for i in range(20)] == [c for c in range(10) for _ in range(2)]  # spread over classes
    # At the native size the pixels are the file's, exactly: x = uint8 / 127.5 - 1.
    x, y = test[1234]
    path = Path(test.source) / CIFAR10_CLASSES[y] / f"{1234 - 1000 * y:04d}.jpg"
    ref = np.asarray(Image.open(path).convert("RGB"), np.float32).transpose(2, 0, 1) / 127.5 - 1
    assert y == 1 and torch.equal(x, torch.from_numpy(ref))
    assert torch.equal(test[1234][0], x)                                   # deterministic
    _check_images(load_dataset("cifar10", split="test", resolution=16, limit=4), 16, 4)


def test_celeba_subset_splits_and_crop(real_data):
    sizes = {s: len(load_dataset("celeba", split=s)) for s in ("train", "validation", "test", "all")}
    assert sizes == {"train": 4800, "validation": 600, "test": 600, "all": 6000}
    assert len(load_dataset("celeba", split="val")) == 600
    # The subset is stratified by identity: each of the 200 people has 24 / 3 / 3 images in train / val / test,
    # and a label names the same person in every split.
    for split, per_person in (("train", 24), ("test", 3)):
        ds = load_dataset("celeba", split=split)
        counts = np.bincount([ds.label(i) for i in range(len(ds))])
        assert counts.tolist() == [per_person] * 200

    test = load_dataset("celeba", split="test", resolution=32, limit=3)
    _check_images(test, 32, 3)
    # At resolution 140 nothing is resized: the item is the central 140 x 140 window of the 178 x 218 file.
    x, _ = load_dataset("celeba", split="test", resolution=140, limit=3)[1]
    raw = np.asarray(Image.open(test.paths[test._order[1]]).convert("RGB"), np.float32)
    assert raw.shape == (218, 178, 3)
    ref = raw[39:179, 19:159].transpose(2, 0, 1) / 127.5 - 1
    assert torch.equal(x, torch.from_numpy(ref))


def test_mnist_through_torchvision(real_data):
    ds = load_dataset("mnist", split="test", resolution=16, limit=10)
    _check_images(ds, 16, 10)
    x, _ = ds[0]
    assert torch.equal(x[0], x[1]) and torch.equal(x[0], x[2])            # grey repeated
    one = load_dataset("mnist", split="test", resolution=28, channels=1)
    assert len(one) == 10000 and len(load_dataset("mnist", resolution=16, limit=2)) == 2
    # Against the idx files read by hand: 16-byte header then 28 x 28 uint8 per image; labels after 8 bytes.
    raw = real_data / "MNIST" / "raw"
    images = np.fromfile(raw / "t10k-images-idx3-ubyte", np.uint8, count=3 * 784, offset=16).reshape(3, 28, 28)
    labels = np.fromfile(raw / "t10k-labels-idx1-ubyte", np.uint8, count=3, offset=8)
    for i in range(3):
        x, y = one[i]
        assert x.shape == (1, 28, 28) and y == labels[i]
        assert torch.equal(x[0], torch.from_numpy(images[i].astype(np.float32) / 127.5 - 1))


def test_image_batch_from_real_data(real_data):
    a = image_batch("cifar10", 6, 16, split="test", seed=3)
    assert a.shape == (6, 3, 16, 16) and a.dtype == torch.float32
    assert torch.equal(a, image_batch("cifar10", 6, 16, split="test", seed=3))
    assert not torch.equal(a, image_batch("cifar10", 6, 16, split="test", seed=4))


# ------------------------------------------------------------------------------------------------ folder
def test_folder_dataset_recursive_sorted_and_cropped(tmp_cache, tmp_path):
    root = tmp_path / "imgs"
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, :, 0] = np.arange(40, dtype=np.uint8)[None] * 6  # red ramp along x, to see which columns survive
    _png(root / "b" / "wide.png", wide)
    _png(root / "a.png", np.full((20, 20), 200, np.uint8))                       # grey: repeated to RGB
    _png(root / "b" / "a" / "rgba.png", np.full((24, 24, 4), 90, np.uint8))      # alpha dropped
    _png(root / ".hidden" / "x.png", np.zeros((20, 20, 3), np.uint8))
    (root / "notes.txt").write_text("not an image")

    ds = load_dataset("folder", root=root, resolution=20)
    assert [Path(p).relative_to(root).as_posix() for p in ds.paths] == ["a.png", "b/a/rgba.png", "b/wide.png"]
    _check_images(load_dataset("folder", root=root, resolution=8), 8, 3, textured=False)
    grey, label = ds[0]
    assert label == -1 and torch.equal(grey[0], grey[2]) and abs(grey[0, 0, 0].item() - (200 / 127.5 - 1)) < 1e-6
    x, _ = ds[2]  # the shorter side is already 20: no resize, central 20 columns (10..29) kept exactly
    assert torch.equal(x[0, 0], torch.arange(10, 30, dtype=torch.float32) * 6 / 127.5 - 1)
    assert load_dataset("folder", root=root, resolution=8, channels=1)[0][0].shape == (1, 8, 8)
    assert len(load_dataset("folder", root=root, split="all", limit=2)) == 2

    with pytest.raises(ValueError, match="root"):
        load_dataset("folder")
    with pytest.raises(ValueError, match="split"):
        load_dataset("folder", root=root, split="test")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="no images"):
        load_dataset("folder", root=tmp_path / "empty")


def test_folder_dataset_from_zip_archive(tmp_cache, tmp_path):
    archive = tmp_path / "faces.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for k in range(3):
            zf.writestr(f"faces/{k}.png", _png_bytes(np.full((10, 10, 3), 50 * k, np.uint8)))
    ds = load_dataset("folder", root=archive, resolution=10)
    assert len(ds) == 3 and Path(ds.source) == tmp_cache / "extracted" / "faces"
    assert [round((ds[k][0][0, 0, 0].item() + 1) * 127.5) for k in range(3)] == [0, 50, 100]


def test_downscaling_is_antialiased(tmp_cache, tmp_path):
    """A Nyquist checkerboard shrunk 4x must come out flat grey; point sampling would keep it black or white."""
    board = ((np.indices((64, 64)).sum(0) % 2) * 255).astype(np.uint8)
    _png(tmp_path / "board" / "b.png", board)
    x, _ = load_dataset("folder", root=tmp_path / "board", resolution=16)[0]
    assert x.abs().max() < 0.05


def test_hflip_flips_about_half(tmp_cache):
    plain = load_dataset("deadleaves", resolution=16, size=40)
    flip = load_dataset("deadleaves", resolution=16, size=40, hflip=True)
    torch.manual_seed(0)
    flipped = []
    for i in range(40):
        x, y = plain[i][0], flip[i][0]
        assert torch.equal(y, x) or torch.equal(y, x.flip(-1))
        flipped.append(not torch.equal(y, x))
    assert 5 <= sum(flipped) <= 35
    batch = torch.randn(64, 3, 4, 4)
    out = random_hflip(batch, torch.Generator().manual_seed(1))
    assert torch.equal(out, random_hflip(batch, torch.Generator().manual_seed(1)))
    same = [torch.equal(o, b) for o, b in zip(out, batch)]
    assert all(s or torch.equal(o, b.flip(-1)) for s, o, b in zip(same, out, batch)) and 10 < sum(same) < 54


# ------------------------------------------------------------------------------------------------ dead leaves
def test_deadleaves_is_a_pure_function_of_seed_split_and_index():
    ds = load_dataset("deadleaves", resolution=32, size=100)
    _check_images(ds, 32, 100)
    x = ds[7][0]
    assert torch.equal(x, ds[7][0]) and torch.equal(x, load_dataset("deadleaves", resolution=32, size=9)[7][0])
    assert not torch.equal(x, ds[8][0])
    assert not torch.equal(x, load_dataset("deadleaves", split="test", resolution=32)[7][0])
    assert not torch.equal(x, load_dataset("deadleaves", resolution=32, seed=1)[7][0])
    assert ds[0][1] == -1 and len(load_dataset("deadleaves", size=100, limit=10)) == 10
    assert len(torch.unique(x.reshape(3, -1), dim=1).T) > 10  # many leaves, not one flat colour


def test_deadleaves_spectrum_is_a_power_law():
    """Radially averaged power ~ f^-alpha with alpha in [1.5, 3.0] over mid frequencies [1/16, 1/4] cycles/px
    (we measure about 1.9 at 32 px; natural photographs give about 2)."""
    x = image_batch("deadleaves", 64, 32, seed=0, size=1000).mean(1).numpy()  # luminance-like average
    alpha = _radial_power_slope(x, 1 / 16, 1 / 4)
    assert 1.5 <= alpha <= 3.0, alpha


# ------------------------------------------------------------------------------------------------ batches, loaders
def test_image_batch_is_a_seeded_random_subset():
    ds = load_dataset("deadleaves", resolution=8, size=30)
    items = torch.stack([ds[i][0] for i in range(30)])
    a = image_batch("deadleaves", 10, 8, seed=5, size=30)
    assert a.shape == (10, 3, 8, 8) and torch.equal(a, image_batch("deadleaves", 10, 8, seed=5, size=30))
    hits = [int(torch.nonzero((items == row).flatten(1).all(1))[0]) for row in a]
    assert len(set(hits)) == 10 and hits != sorted(hits)  # distinct items, in random order
    assert not torch.equal(a, image_batch("deadleaves", 10, 8, seed=6, size=30))
    with pytest.raises(ValueError, match="n=31"):
        image_batch("deadleaves", 31, 8, size=30)


def test_make_loader_order_depends_only_on_the_seed():
    data = torch.utils.data.TensorDataset(torch.arange(10))

    def epochs(seed, n=2):
        loader = make_loader(data, batch_size=4, shuffle=True, seed=seed)
        return [[b[0].tolist() for b in loader] for _ in range(n)]

    first = epochs(0)
    assert first == epochs(0) and first != epochs(1)
    assert first[0] != first[1]                                    # a new permutation each epoch
    assert all(len(b) == 4 for e in first for b in e) and len(first[0]) == 2  # drop_last
    plain = make_loader(data, batch_size=4, shuffle=False, seed=0, drop_last=False)
    assert [b[0].tolist() for b in plain] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    images, labels = next(iter(make_loader(load_dataset("deadleaves", resolution=8, size=8), 4, seed=0)))
    assert images.shape == (4, 3, 8, 8) and labels.tolist() == [-1] * 4


def test_a_corrupt_image_in_a_folder_dataset_is_named_in_one_line(tmp_path):
    import numpy as np
    from PIL import Image

    from smlib.data import CorruptImageError, load_dataset

    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / f"good{i}.png")
    data = (tmp_path / "good0.png").read_bytes()
    (tmp_path / "broken.png").write_bytes(data[: len(data) // 2])        # a truncated file
    ds = load_dataset("folder", root=tmp_path, resolution=8)
    with pytest.raises(CorruptImageError) as err:
        [ds[i] for i in range(len(ds))]
    message = str(err.value)
    assert "broken.png" in message and "delete or replace" in message and "\n" not in message
