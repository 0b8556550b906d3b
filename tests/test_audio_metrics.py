"""smlib.metrics.audio against independent references: the STFT power against scipy.signal.stft, the mel filters
against their definition evaluated point by point, the Fréchet distance against the closed form for Gaussians,
the label-free scores against scipy.stats.entropy, the spectral errors on signals with known spectra, and the
classifier's training (deterministic, and it learns a toy task)."""
import math

import numpy as np
import pytest
import scipy.linalg
import scipy.signal
import scipy.stats
import torch

from smlib.metrics import audio as am


def test_power_spectrogram_matches_scipy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 1000))
    ours = am.power_spectrogram(torch.from_numpy(x).float(), n_fft=128, hop=32).double().numpy()
    # scipy: periodic Hann, frames centred with zero padding, spectrum scaled by 1/sum(window)
    win = scipy.signal.get_window("hann", 128)
    _, _, z = scipy.signal.stft(x, window=win, nperseg=128, noverlap=96, boundary="zeros", padded=False)
    ref = np.abs(z * win.sum()) ** 2
    assert ours.shape == (2, 65, 1 + 1000 // 32)
    np.testing.assert_allclose(ours, ref[..., :ours.shape[-1]], rtol=1e-4, atol=1e-3)


def test_mel_filters_follow_their_definition():
    fb = am.mel_filterbank(256, 8000, n_mels=10).double().numpy()
    edges = 700 * (10 ** (np.linspace(0, 2595 * math.log10(1 + 4000 / 700), 12) / 2595) - 1)
    for m in range(10):
        for k in range(129):
            f = k * 8000 / 256
            lo, mid, hi = edges[m:m + 3]
            want = (f - lo) / (mid - lo) if lo <= f <= mid else (hi - f) / (hi - mid) if mid < f <= hi else 0.0
            assert fb[m, k] == pytest.approx(want, abs=1e-6)
    with pytest.raises(ValueError, match="fmax"):
        am.mel_filterbank(256, 8000, fmax=5000)


def test_frechet_distance_closed_form_diagonal():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([2.0, 1.0, 0.25])
    rng = np.random.default_rng(0)
    a = mu1 + np.sqrt(v1) * rng.normal(size=(200_000, 3))
    b = mu2 + np.sqrt(v2) * rng.normal(size=(200_000, 3))
    closed = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert am.frechet_feature_distance(a, b) == pytest.approx(closed, rel=0.02)


def test_frechet_distance_matches_scipy_sqrtm_on_full_covariances():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(500, 4)) @ rng.normal(size=(4, 4))
    b = rng.normal(size=(400, 4)) @ rng.normal(size=(4, 4)) + 0.5
    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    r1 = scipy.linalg.sqrtm(s1)
    # tr((S1 S2)^1/2) = tr((S1^1/2 S2 S1^1/2)^1/2), a symmetric form computed independently
    ref = ((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(r1 @ s2 @ r1)).real
    assert am.frechet_feature_distance(torch.from_numpy(a), b) == pytest.approx(ref, rel=1e-6)


def test_digit_scores_against_scipy_entropy():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(50, 10)) * 3
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    s = am.digit_scores(torch.from_numpy(p), threshold=0.5)
    marginal = p.mean(0)
    assert s["entropy"] == pytest.approx(np.mean([scipy.stats.entropy(q) for q in p]), rel=1e-9)
    assert s["inception_score"] == pytest.approx(np.exp(np.mean([scipy.stats.entropy(q, marginal) for q in p])),
                                                 rel=1e-9)
    assert s["confidence"] == pytest.approx(p.max(1).mean(), rel=1e-6)
    assert s["recognised"] == pytest.approx((p.max(1) >= 0.5).mean())
    assert s["recognised@0.9"] == pytest.approx((p.max(1) >= 0.9).mean())
    assert sum(s["digit_counts"]) == int((p.max(1) >= 0.5).sum())


def test_reject_column_is_rejected_share_and_digits_are_renormalised():
    p = torch.tensor([[0.05] * 10 + [0.5], [0.0] * 3 + [0.95] + [0.0] * 6 + [0.05]], dtype=torch.float64)
    s = am.digit_scores(p, threshold=0.9)
    assert s["rejected"] == 0.5 and s["recognised"] == 0.5 and s["digit_counts"][3] == 1
    assert s["confidence"] == pytest.approx((0.05 + 0.95) / 2)
    # first row renormalised over the digits is uniform: entropy ln 10; second is certain
    assert s["entropy"] == pytest.approx(math.log(10) / 2, abs=1e-9)
    with pytest.raises(ValueError, match="probs"):
        am.digit_scores(torch.ones(3, 5))


def test_negatives_are_not_digits_by_construction():
    g = torch.Generator().manual_seed(0)
    t = torch.arange(800) / 4000
    x = (0.5 * torch.sin(2 * math.pi * 440 * t) * torch.hann_window(800))[None, None].repeat(40, 1, 1)
    y = am.negatives(x, g)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert not any(torch.allclose(y[i], x[i]) for i in range(40))
    # speech-shaped noise keeps the clip's magnitude spectrum: find one by its spectrum
    same_spectrum = [torch.allclose(torch.fft.rfft(y[i]).abs(), torch.fft.rfft(x[i]).abs(), atol=1e-3)
                     for i in range(40)]
    assert any(same_spectrum)


def test_inception_score_extremes():
    one_hot = torch.eye(10).repeat(3, 1)                        # every digit, each certain
    assert am.digit_scores(one_hot)["inception_score"] == pytest.approx(10, rel=1e-6)
    same = torch.zeros(30, 10)
    same[:, 3] = 1                                               # one digit only
    s = am.digit_scores(same)
    assert s["inception_score"] == pytest.approx(1, rel=1e-6) and s["digit_counts"][3] == 30
    uniform = torch.full((5, 10), 0.1)
    assert am.digit_scores(uniform)["entropy"] == pytest.approx(math.log(10))
    assert am.digit_scores(uniform)["recognised"] == 0


def test_spectral_errors_of_a_known_gain():
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.normal(size=(8, 1, 2000)) * 0.1).float()
    e = am.spectral_errors(2 * x, x, 8000)       # twice the amplitude: +6.02 dB in every band
    assert e["log_mel_error_db"] == pytest.approx(20 * math.log10(2), abs=1e-3)
    assert e["psd_error_db"] == pytest.approx(20 * math.log10(2), abs=1e-3)
    assert am.spectral_errors(x, x, 8000)["psd_error_db"] == 0


def test_psd_bands_locate_a_tone():
    t = torch.arange(4000) / 8000
    tone = torch.sin(2 * math.pi * 1100 * t)[None, None]         # 1.1 kHz of 0..4 kHz: band 8 of 32 (125 Hz each)
    assert int(am.mean_psd_db(tone).argmax()) == 8


def _toy_task(n=60, length=800, rate=4000):
    """Two "digits": a low and a high tone, random phases and amplitudes (a reversed or phase-randomised tone is
    still the tone, so the toy trains without negatives)."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 2
    f = torch.where(labels == 0, 300.0, 1500.0)
    t = torch.arange(length) / rate
    x = torch.sin(2 * math.pi * f[:, None] * t[None] + 6.28 * torch.rand(n, 1, generator=g))
    return 0.5 * x[:, None] * (0.5 + torch.rand(n, 1, 1, generator=g)), labels


def test_classifier_learns_a_toy_task_deterministically(one_thread):
    x, y = _toy_task()
    cfg = am.ClassifierConfig(rate=4000, n_fft=64, hop=32, n_mels=12, widths=(4, 8), feature_dim=8, epochs=15,
                              batch_size=20, lr=1e-2, max_shift=0.02, negative_share=0.0)
    a = am.train_classifier(x, y, cfg)
    b = am.train_classifier(x, y, cfg)
    for p, q in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(p, q)
    probs, feats = am.classify(a, x)
    assert probs.shape == (60, 11) and feats.shape == (60, 8)
    assert am.accuracy(probs, y) == 1.0


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")   # dead ReLU features: singular covariance
def test_evaluator_scores_reference_against_itself(one_thread):
    x, y = _toy_task()
    cfg = am.ClassifierConfig(rate=4000, n_fft=64, hop=32, n_mels=12, widths=(4,), feature_dim=4, epochs=1,
                              batch_size=20)
    clf = am.train_classifier(x, y, cfg)
    out = am.AudioEvaluator(clf, x, 4000, threshold=0.0)(x)
    assert out["fd"] == pytest.approx(0, abs=1e-6) and out["psd_error_db"] == 0 and out["recognised"] == 1
    assert out["n_samples"] == out["n_reference"] == 60


def test_packed_audio_samples_are_the_int16_pcm_a_wav_file_holds(tmp_path):
    """A result's ``samples`` (smlib.results.pack_int16) unpack to the int16 PCM that scipy writes to and reads from
    a WAV file, so the book's players hear exactly what the run drew."""
    import scipy.io.wavfile

    from smlib.results import pack_int16, unpack_int16

    waves = torch.linspace(-1.2, 1.2, 2 * 800).reshape(2, 1, 800)          # beyond [-1, 1]: clipped
    packed = pack_int16(waves)
    pcm = unpack_int16(packed)
    assert pcm.dtype == np.int16 and pcm.shape == (2, 1, 800) and packed["shape"] == [2, 1, 800]
    assert pcm.max() == 32767 and pcm.min() == -32767
    first = (waves[0, 0].clamp(-1, 1) * 32767).round().numpy().astype(np.int16)
    scipy.io.wavfile.write(tmp_path / "a.wav", 8000, first)
    rate, back = scipy.io.wavfile.read(tmp_path / "a.wav")
    assert rate == 8000 and np.array_equal(back, pcm[0, 0])
    assert np.array_equal(unpack_int16(pack_int16(torch.from_numpy(pcm.copy()))), pcm)     # int16 in, unchanged
