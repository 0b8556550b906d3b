"""Spectral regularisation terms against independent numpy / PyWavelets computations (values, and gradients by
finite differences), Parseval (the L2 form is the pixel MSE, the L1 form is not), 1-D signals, and bad input."""
import numpy as np
import pytest
import pywt
import torch

from smlib.diffusion import spectral_loss as S

pytestmark = pytest.mark.usefixtures("one_thread")


def pair(shape=(2, 3, 8, 8), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(shape, generator=g, dtype=torch.float64)


def test_fourier_terms_match_numpy():
    x0, x1 = pair()
    f0 = np.fft.fftn(x0.numpy(), axes=(-2, -1), norm="ortho")
    f1 = np.fft.fftn(x1.numpy(), axes=(-2, -1), norm="ortho")
    n = 3 * 8 * 8
    amp = np.abs(np.abs(f0) - np.abs(f1)).reshape(2, -1).sum(1) / n
    np.testing.assert_allclose(S.amplitude_l1(x0, x1).numpy(), amp, rtol=1e-12)
    raw = np.abs(np.angle(f0) - np.angle(f1)).reshape(2, -1).sum(1) / n
    np.testing.assert_allclose(S.phase_l1(x0, x1).numpy(), raw, rtol=1e-12)
    d = np.angle(f0) - np.angle(f1)
    wrapped = np.abs(np.angle(np.exp(1j * d))).reshape(2, -1).sum(1) / n
    np.testing.assert_allclose(S.phase_l1(x0, x1, phase="wrapped").numpy(), wrapped, rtol=1e-12)
    assert (wrapped <= raw + 1e-12).all() and (wrapped < raw).any()
    np.testing.assert_allclose(S.amplitude_phase_l1(x0, x1).numpy(), amp * (1 + raw), rtol=1e-12)   # Eq. 15


def test_parseval_the_l2_form_is_the_pixel_mse_and_the_l1_form_is_not():
    x0, x1 = pair()
    mse = ((x0 - x1) ** 2).flatten(1).mean(1)
    assert torch.allclose(S.fourier_l2(x0, x1), mse, rtol=1e-12)
    complex_l1 = S._per_element((S.fourier(x0) - S.fourier(x1)).abs(), x0)
    pixel_l1 = (x0 - x1).abs().flatten(1).mean(1)
    assert (complex_l1 - pixel_l1).abs().min() > 0.05


@pytest.mark.parametrize("wavelet,mode", [("haar", "reflect"), ("bior1.3", "reflect"), ("bior1.3", "symmetric"),
                                          ("haar", "periodic")])
def test_wavelet_bands_equal_pywavelets_and_the_loss_sums_their_l1(wavelet, mode):
    x0, x1 = pair(shape=(2, 3, 32, 32))
    ours = S.wavelet_coefficients(x0, wavelet, levels=2, mode=mode)
    ref = pywt.wavedec2(x0.numpy(), wavelet, level=2, mode=mode, axes=(-2, -1))
    flat = [ref[0]] + [b for level in ref[1:] for b in level]
    assert len(ours) == len(flat) == 7
    for a, b in zip(ours, flat):
        np.testing.assert_allclose(a.numpy(), b, atol=1e-12)
    r1 = pywt.wavedec2(x1.numpy(), wavelet, level=2, mode=mode, axes=(-2, -1))
    flat1 = [r1[0]] + [b for level in r1[1:] for b in level]
    ref_loss = sum(np.abs(a - b).reshape(2, -1).sum(1) for a, b in zip(flat, flat1)) / (3 * 32 * 32)
    np.testing.assert_allclose(S.wavelet_l1(x0, x1, wavelet, 2, mode).numpy(), ref_loss, rtol=1e-12)
    no_ll = sum(np.abs(a - b).reshape(2, -1).sum(1) for a, b in zip(flat[1:], flat1[1:])) / (3 * 32 * 32)
    np.testing.assert_allclose(S.wavelet_l1(x0, x1, wavelet, 2, mode, include_ll=False).numpy(), no_ll, rtol=1e-12)


def test_haar_is_orthonormal_so_only_its_l1_differs_from_the_pixels():
    x0, x1 = pair(shape=(2, 3, 16, 16))
    a, b = S.wavelet_coefficients(x0, "haar", 3), S.wavelet_coefficients(x1, "haar", 3)
    l2 = sum(((p - q) ** 2).flatten(1).sum(1) for p, q in zip(a, b))
    assert torch.allclose(l2, ((x0 - x1) ** 2).flatten(1).sum(1), rtol=1e-12)
    flat = torch.zeros(1, 1, 16, 16, dtype=torch.float64)
    # a constant difference: pixel L1 is 1, Haar puts it all in LL, 8 per 8x8 block, so its L1 per element is 1/8
    assert float(S.wavelet_l1(flat, flat + 1, "haar", 3)) == pytest.approx(1 / 8)


@pytest.mark.parametrize("name", S.SPECTRAL_LOSSES)
def test_gradients_match_finite_differences(name):
    x0, x1 = pair(shape=(1, 2, 8, 8), seed=3)
    spec = S.SpectralLossSpec(name, wavelet="bior1.3", levels=1)
    x1.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda y: S.spectral_loss(spec, x0, y), (x1,), eps=1e-6, atol=1e-5)


def test_one_dimensional_signals_a_circular_shift_keeps_the_amplitude_and_moves_the_phase():
    t = torch.arange(64, dtype=torch.float64)
    x0 = (torch.sin(2 * torch.pi * 5 * t / 64) + 0.5 * torch.cos(2 * torch.pi * 12 * t / 64)).view(1, 1, 64)
    shifted = torch.roll(x0, 3, dims=-1)
    amp = S.SpectralLossSpec("fourier-amplitude", signal_dims=1)
    both = S.SpectralLossSpec("fourier-amplitude-phase", signal_dims=1)
    assert float(S.spectral_loss(amp, x0, shifted)) < 1e-12
    assert float(S.phase_l1(x0, shifted, dims=1)) > 0.01
    wav = S.SpectralLossSpec("wavelet", wavelet="haar", levels=3, signal_dims=1)
    ref = pywt.wavedec(x0.numpy(), "haar", level=3, mode="reflect")
    assert len(S.wavelet_coefficients(x0, "haar", 3, dims=1)) == len(ref) == 4
    assert float(S.spectral_loss(wav, x0, x0)) == 0.0 and float(S.spectral_loss(both, x0, x0)) == 0.0


def test_bad_input_fails_with_one_line():
    with pytest.raises(ValueError, match="unknown spectral loss"):
        S.SpectralLossSpec("fourier-phase")
    with pytest.raises(ValueError, match="unknown wavelet"):
        S.SpectralLossSpec("wavelet", wavelet="bior13")
    x0, x1 = pair()
    with pytest.raises(ValueError, match="too deep"):
        S.wavelet_l1(x0, x1, "bior1.3", levels=4)
    with pytest.raises(ValueError, match="must both be"):
        S.spectral_loss(S.SpectralLossSpec(), x0, x1[:, :2])


def test_the_formulations_x0_hat_keeps_its_graph_and_is_off_by_default():
    from smlib.diffusion import make_formulation
    f = make_formulation("ddpm-linear")
    net = torch.nn.Conv2d(3, 3, 1)
    model = lambda x, t, y: net(x)  # noqa: E731
    x0 = torch.randn(2, 3, 8, 8)
    t, eps = torch.tensor([0.3, 0.7]), torch.randn(2, 3, 8, 8)
    loss, logs = f.loss(model, x0, t=t, eps=eps, return_x0_hat=True)
    assert "x0_hat" not in f.loss(model, x0, t=t, eps=eps)[1]
    x_t = f.add_noise(x0, t, eps)
    ref = f.to_x0_eps(model(x_t, t, None), x_t, t)[0]
    assert torch.allclose(logs["x0_hat"], ref) and logs["x0_hat"].requires_grad
    S.spectral_loss(S.SpectralLossSpec(), x0, logs["x0_hat"]).sum().backward()
    assert net.weight.grad.abs().sum() > 0                  # the spectral term reaches the network
