"""The spectrum audit (smlib.audit): it runs end to end on an smlib lab run and on a diffusers AutoencoderKL folder,
turns bad input into one line (exit 2), and its numbers agree with independent references (ESMLoss's matrix path,
scipy's DCT, a decoder whose band correspondence is known, scipy.stats.spearmanr / permutation_test)."""
import itertools
import json
import math
import shutil

import diffusers
import numpy as np
import pytest
import scipy.fft
import scipy.stats
import torch
from torch import nn

from smlib.audit import (PROBES, AuditedAutoencoder, autoencoder_probes, band_correspondence, detectable_rho,
                         fisher_interval, hf_energy_share, measure, probe_correlations, white_share)
from smlib.audit.probes import ESM_DELTA
from smlib.cli import main
from smlib.data import image_batch
from smlib.pipelines import autoencoder as lab
from smlib.models.autoencoder import AEConfig, AutoEncoder
from smlib.regularizers.esm import ESMLoss


pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def lab_run(tmp_path_factory):
    """A lab autoencoder trained for 2 steps by the real recipe, its run folder then MOVED elsewhere: the audit must
    read PATH/last.pt, not the checkpoint path stored in result.json (which now points at nothing)."""
    root = tmp_path_factory.mktemp("lab")
    cfg = lab.AutoencoderConfig.at("ci", ae_channels=(8, 8, 8), n_train=8, steps=2, batch_size=4, warmup_steps=1,
                                   log_every=1, ckpt_every=2, dataset="deadleaves")
    result = lab.fit_autoencoder("plain", cfg, device="cpu", runs_dir=root / "runs", evaluate=False)
    moved = root / "elsewhere" / "plain-run"
    shutil.move(str(next((root / "runs").rglob("result.json")).parent), moved)
    assert not (root / "runs" / result["checkpoint"]).exists()
    return moved


def tiny_kl(in_channels=3, seed=0):
    torch.manual_seed(seed)
    return diffusers.AutoencoderKL(in_channels=in_channels, out_channels=in_channels,
                                   down_block_types=("DownEncoderBlock2D",) * 3,
                                   up_block_types=("UpDecoderBlock2D",) * 3, block_out_channels=(8, 16, 16),
                                   layers_per_block=1, latent_channels=4, norm_num_groups=4, sample_size=32)


@pytest.fixture(scope="module")
def kl_folder(tmp_path_factory):
    """A randomly initialised AutoencoderKL saved with save_pretrained: the real loading path."""
    path = tmp_path_factory.mktemp("kl") / "tiny-kl"
    tiny_kl().save_pretrained(path)
    return path


def cli(capsys, *argv):
    code = main(["audit", *map(str, argv)])
    return code, capsys.readouterr()


# ------------------------------------------------------------------------------------------------ end to end
def test_audit_of_a_moved_lab_run_writes_its_json_and_figure(lab_run, tmp_path, capsys):
    out = tmp_path / "audit"
    code, io = cli(capsys, "--autoencoder", lab_run, "--dataset", "deadleaves", "--n-images", 8, "--out", out,
                   "--device", "cpu")
    assert code == 0, io.err
    record = json.loads((out / "audit.json").read_text())
    assert (out / "audit.png").stat().st_size > 10_000
    assert set(record["probes"]) == set(PROBES) and record["autoencoder"]["kind"] == "smlib"
    assert record["measurement"]["latent_shape"] == [4, 8, 8] and record["data"]["resolution"] == 32
    assert record["provenance"]["command"] and "git_commit" in record["provenance"]
    assert record["definitions"]["paper_delta"] == 1.0 == record["measurement"]["delta"]
    corr = record["measurement"]["correspondence"]
    for key in ("relative_share", "absolute_share"):
        assert np.array(corr[key]).shape == (4, 4) and np.allclose(np.sum(corr[key], axis=1), 1)
    assert corr["score"] == pytest.approx(np.mean(np.diag(corr["relative_share"])))
    assert "DSM correspondence" in io.out


def test_audit_of_a_diffusers_folder(kl_folder, tmp_path, capsys):
    out = tmp_path / "audit"
    code, io = cli(capsys, "--autoencoder", kl_folder, "--dataset", "deadleaves", "--n-images", 6, "--out", out,
                   "--device", "cpu", "--bands", 3)
    assert code == 0, io.err
    record = json.loads((out / "audit.json").read_text())
    assert record["autoencoder"]["kind"] == "diffusers" and record["autoencoder"]["scaling_factor"] == 0.18215
    assert len(record["measurement"]["correspondence"]["diagonal"]) == 3
    assert all(math.isfinite(v) for k, v in record["probes"].items() if k != "psd_slope_latent")
    assert (out / "audit.png").is_file()


def one_line_error(code, io, *words):
    lines = io.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), io.err
    for w in words:
        assert w in lines[0], lines[0]


def test_a_folder_that_is_not_an_autoencoder(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    one_line_error(*cli(capsys, "--autoencoder", tmp_path, "--dataset", "deadleaves"), "not an autoencoder folder")
    one_line_error(*cli(capsys, "--autoencoder", tmp_path / "missing" / "x", "--dataset", "deadleaves"),
                   "no folder")
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel"}))
    one_line_error(*cli(capsys, "--autoencoder", tmp_path, "--dataset", "deadleaves"), "UNet2DModel")


def test_a_run_folder_without_loadable_weights(lab_run, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(lab_run / "result.json", broken / "result.json")
    one_line_error(*cli(capsys, "--autoencoder", broken, "--dataset", "deadleaves"), "no last.pt")
    (broken / "last.pt").write_bytes(b"not a checkpoint")
    one_line_error(*cli(capsys, "--autoencoder", broken, "--dataset", "deadleaves"), "do not load")


def test_images_that_do_not_fit(kl_folder, tmp_path, capsys):
    grey = tmp_path / "grey-kl"
    tiny_kl(in_channels=1).save_pretrained(grey)
    one_line_error(*cli(capsys, "--autoencoder", grey, "--dataset", "deadleaves", "--n-images", 4),
                   "1-channel", "3 channels")
    one_line_error(*cli(capsys, "--autoencoder", kl_folder, "--dataset", "deadleaves", "--resolution", 30),
                   "not a multiple", "factor f=4")
    one_line_error(*cli(capsys, "--autoencoder", kl_folder, "--dataset", "deadleaves", "--resolution", 8),
                   "too small")


def test_no_images(kl_folder, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(*cli(capsys, "--autoencoder", kl_folder, "--dataset", "folder", "--data-root", empty),
                   "no images")
    one_line_error(*cli(capsys, "--autoencoder", kl_folder, "--dataset", "deadleaves", "--n-images", 1),
                   "at least 2 images")


# ------------------------------------------------------------------------------------------------ the numbers
def test_esm_probe_is_the_esm_loss_and_noise_ratio_is_measured():
    torch.manual_seed(1)
    model = AutoEncoder(AEConfig(channels=(8, 16, 16), layers_per_block=1, latent_channels=4, resolution=32,
                                 groups=4)).eval()
    x = image_batch("deadleaves", 6, 32, seed=0)
    m = measure(model, x, n_bands=2, seed=3)
    with torch.no_grad():
        post = model.encode(x)
    z = post.mean + post.std * torch.randn(post.mean.shape, generator=torch.Generator().manual_seed(3))
    kl, _, _ = ESMLoss().divergence(x, z)                        # the training loss's own (matrix) path
    assert ESM_DELTA == ESMLoss().delta == 1.0
    assert m["esm"]["kl"] == pytest.approx(float(kl.mean()), rel=1e-4)
    ratio = float(post.var.double().mean() / post.mean.double().var())
    assert m["noise"]["noise_to_signal_measured"] == pytest.approx(ratio, rel=1e-6)


def test_hf_energy_share_against_scipy_dct():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3, 2, 8, 6, generator=g).cumsum(dim=-1).cumsum(dim=-2)   # a red (low-pass) field
    zn = z.double().numpy()
    zn = (zn - zn.mean(axis=(0, 2, 3), keepdims=True)) / zn.std(axis=(0, 2, 3), ddof=1, keepdims=True)
    power = (scipy.fft.dctn(zn, axes=(2, 3), norm="ortho") ** 2).sum(axis=(0, 1))
    power[0, 0] = 0
    u, v = np.meshgrid(np.arange(8), np.arange(6), indexing="ij")
    high = np.hypot(u, v) / np.hypot(7, 5) >= 0.5
    assert hf_energy_share(z) == pytest.approx(power[high].sum() / power.sum(), rel=1e-9)
    assert hf_energy_share(z) < white_share(8, 6) - 0.2
    white = torch.randn(4000, 1, 8, 8, generator=g)
    assert hf_energy_share(white) == pytest.approx(white_share(8, 8), abs=0.01)
    assert white_share(8, 8) == pytest.approx(np.mean((np.hypot(*np.meshgrid(range(8), range(8))) / np.hypot(7, 7)
                                                        >= 0.5).ravel()[1:]))


class IndexCopyDecoder(nn.Module):
    """A linear 'decoder' (B, d, h, w) -> (B, 3, f h, f w): the latent's DCT coefficient (u, v) of channel c goes to
    the image's coefficient (u, v) of channel c % 3, the rest of the image spectrum is 0."""

    def __init__(self, factor):
        super().__init__()
        self.f = factor
        self.p = nn.Parameter(torch.zeros(1))

    def decode(self, z):
        from smlib.spectral import dct2, idct2

        b, d, h, w = z.shape
        c = dct2(z)
        out = torch.zeros(b, 3, h * self.f, w * self.f, dtype=z.dtype)
        for ch in range(d):
            out[:, ch % 3, :h, :w] += c[:, ch]
        return idct2(out)


def test_band_correspondence_against_a_decoder_with_known_bands():
    from smlib.spectral import dct2, dct_radial_bins

    z = torch.randn(5, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64).float()
    for f in (1, 2):
        ae = AuditedAutoencoder("smlib", IndexCopyDecoder(f), 3, 3, f, None)
        got = band_correspondence(ae, z, n_bands=4)
        # brute force: coefficient (u, v) of latent band k lands, unchanged, at image (u, v) in image band j
        lat, img = dct_radial_bins(8, 8, 4), dct_radial_bins(8 * f, 8 * f, 4)[:8, :8]
        energy = dct2(z.double()).square().sum(dim=(0, 1))
        e = np.zeros((4, 4))
        for u, v in itertools.product(range(8), range(8)):
            e[lat[u, v], img[u, v]] += float(energy[u, v])
        np.testing.assert_allclose(got["absolute_share"], e / e.sum(axis=1, keepdims=True), atol=1e-5)
        recon = e.sum(axis=0)                                     # D(z)'s energy per image band
        rel = np.divide(e, recon, out=np.zeros_like(e), where=recon > 0)
        np.testing.assert_allclose(got["relative_change"], rel, atol=1e-5)
        np.testing.assert_allclose(got["relative_share"], rel / rel.sum(axis=1, keepdims=True), atol=1e-5)
        if f == 1:  # the identity: every removed band changes all of its own image band and nothing else
            assert got["score"] == pytest.approx(1.0, abs=1e-6)
            np.testing.assert_allclose(got["relative_change"], np.eye(4), atol=1e-5)
        else:       # index-preserving upsampling leaves the upper image bands empty: no correspondence there
            assert got["score"] < 0.6
    with pytest.raises(ValueError, match="fewer --bands"):
        band_correspondence(AuditedAutoencoder("smlib", IndexCopyDecoder(1), 3, 3, 1, None), z[..., :4, :4],
                            n_bands=12)


def test_autoencoder_probes_leave_the_model_as_it_was():
    model = AutoEncoder(AEConfig(channels=(8, 8), layers_per_block=1, latent_channels=2, resolution=16, groups=4,
                                 dropout=0.5)).train()
    x = image_batch("deadleaves", 4, 16, seed=0)
    a = autoencoder_probes(model, x, n_bands=2)
    b = autoencoder_probes(model, x, n_bands=2)
    assert set(a) == set(PROBES) and a == b          # dropout off while measuring: deterministic
    assert model.training


# ------------------------------------------------------------------------------------------------ correlations
def test_probe_correlations_against_scipy():
    rng = np.random.default_rng(0)
    runs = [f"r{i}" for i in range(21)]
    out = dict(zip(runs, rng.normal(size=21)))
    good = {r: 0.7 * out[r] + 0.5 * rng.normal() for r in runs}
    noise = {r: rng.normal() for r in runs[:-2]} | {"extra": 1.0}
    rows = probe_correlations({"good": good, "noise": noise}, out, n_perm=20_000, seed=1)
    for row, probe in zip(rows, (good, noise)):
        keys = sorted(set(probe) & set(out))
        x, y = [probe[k] for k in keys], [out[k] for k in keys]
        assert row["n"] == len(keys) and row["rho"] == pytest.approx(scipy.stats.spearmanr(x, y).statistic, abs=1e-12)
        # scipy's own Monte Carlo (permuting x against a fixed y is all pairings); 4000 of them: +/- 0.008 at p ~ 0.3
        ref = scipy.stats.permutation_test((x,), lambda a: scipy.stats.spearmanr(a, y).statistic,
                                           permutation_type="pairings", n_resamples=4000,
                                           random_state=np.random.default_rng(2)).pvalue
        assert row["test"] == "monte carlo" and row["p"] == pytest.approx(ref, abs=0.03)
        se = math.sqrt(1.06 / (len(keys) - 3))
        z = math.atanh(row["rho"])
        assert row["ci"] == pytest.approx([math.tanh(z - 1.959964 * se), math.tanh(z + 1.959964 * se)], abs=1e-6)
    assert rows[1]["runs_left_out"] == ["extra", "r19", "r20"]
    assert rows[0]["p"] < 0.01 and rows[0]["p_holm"] == pytest.approx(min(1, 2 * min(r["p"] for r in rows)))


def test_exact_permutation_p_matches_scipy_on_seven_recipe_means():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=7), rng.normal(size=7)
    y[3] = y[5]                                                  # a tie, handled with average ranks
    row = probe_correlations({"p": dict(enumerate(x))}, dict(enumerate(y)))[0]
    ref = scipy.stats.permutation_test((x,), lambda a: scipy.stats.spearmanr(a, y).statistic,
                                       permutation_type="pairings", n_resamples=np.inf)  # all 7! pairings
    assert row["test"] == "exact" and row["n_perm"] == 5040
    assert row["p"] == pytest.approx(ref.pvalue, abs=1e-12)


def test_fisher_interval_covers_at_twenty_one_runs():
    # independent check of the interval's claim: ~95% coverage of the population Spearman rho at n = 21
    rng = np.random.default_rng(0)
    r = 0.6
    rho_s = 6 / math.pi * math.asin(r / 2)                       # Spearman's rho of a bivariate normal (Pearson r)
    cov = np.array([[1, r], [r, 1]])
    hits = 0
    for _ in range(600):
        a, b = rng.multivariate_normal([0, 0], cov, size=21).T
        lo, hi = fisher_interval(scipy.stats.spearmanr(a, b).statistic, 21)
        hits += lo <= rho_s <= hi
    assert 0.91 <= hits / 600 <= 0.985
    assert detectable_rho(21) == pytest.approx(math.tanh((1.959964 + 0.841621) * math.sqrt(1.06 / 18)), abs=1e-5)


def test_probe_correlations_bad_input():
    with pytest.raises(ValueError, match="shares only 2 runs"):
        probe_correlations({"p": {"a": 1.0, "b": 2.0}}, {"a": 1.0, "b": 3.0, "c": 0.0})
    row = probe_correlations({"flat": dict.fromkeys("abcde", 1.0)}, dict(zip("abcde", range(5))))[0]
    assert math.isnan(row["rho"]) and math.isnan(row["p"])
