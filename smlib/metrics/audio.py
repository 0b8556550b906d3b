"""Scores for generated speech: a digit classifier's judgement, the Fréchet distance in its feature space, and the
spectral error of the samples against the data.

This is DiffWave's SC09 evaluation (Kong et al., ICLR 2021, arXiv 2009.09761, §5.3: a ResNeXt digit classifier
trained on SC09 gives FID in its feature space, IS, mIS, AM and NDB) with what can be had here: no pretrained
audio network (VGGish for FAD, DiffWave's classifier) can be downloaded, so the classifier is a small CNN on
log-mel spectrograms, trained once on the training split of :mod:`smlib.data.spoken_digits` (held-out speakers
for its test accuracy) and cached.

**An eleventh class, "not a digit".** A ten-way classifier must call everything a digit: measured, ours (trained
on digits alone) called loud white noise "four" with confidence 0.99 and segment-shuffled speech a digit 70 % of
the time, so a confidence threshold alone would pass a model that makes noise. The classifier therefore also
learns a reject class from negatives made on the fly from each batch (:func:`negatives`): white and coloured
noise at random levels, speech-shaped noise (a clip's magnitude spectrum with random phases: the data's spectrum
and no word), segment-shuffled speech and time-reversed speech. (Our design; DiffWave's SC09 classifier has ten
classes.) Unconditional samples have no label, so the scores are label-free, with p(y|x) over the ten digits
(the eleven-way softmax without the reject column):

* ``confidence``: mean over samples of max_y p(y|x); ``rejected``: the share whose most likely class is "not a
  digit";
* ``recognised``: the share of samples with max_y p(y|x) >= ``threshold`` (the learning bar's measure);
* ``entropy``: mean H of p(y|x) renormalised over the ten digits, in nats (0 = certain, ln 10 = no idea);
* ``inception_score``: exp(E_x KL(q(y|x) || q(y))) on the renormalised q, q(y) its mean over the samples
  (Salimans et al. 2016; 1 .. 10, high when each sample is one clear digit and all digits occur);
* ``fd``: Fréchet distance between Gaussians fitted to the classifier's penultimate features of the samples and of
  the test split (as FID does with Inception's; only comparable at equal sample counts, like FID);
* ``log_mel_error_db`` / ``psd_error_db``: mean absolute difference, in dB, between the samples' and the data's
  average log-mel spectrum (40 bands) / power spectrum (32 equal-width bands above DC), the 1-D counterpart of the
  image chapters' radial-PSD error.

Conventions: waveforms are (B, 1, L) or (B, L) float in [-1, 1] at ``rate`` Hz.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass

import numpy as np
import scipy.signal
import torch
import torch.nn.functional as F
from torch import nn

from smlib.atomic import atomic_path
from smlib.data.roots import cache_dir
from smlib.metrics.fid import feature_statistics, frechet_distance


# ------------------------------------------------------------------------------------------------- spectrograms
def hz_to_mel(f):
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_fft: int, rate: int, n_mels: int = 40, fmin: float = 0.0, fmax: float | None = None) -> torch.Tensor:
    """Triangular filters on the HTK mel scale: (n_mels, n_fft // 2 + 1) float32.

    Filter m rises linearly from mel point m to m + 1 and falls to m + 2 (n_mels + 2 points equally spaced in mel
    between fmin and fmax, default rate / 2), peak 1, evaluated at the FFT bin frequencies k rate / n_fft."""
    fmax = rate / 2 if fmax is None else fmax
    if not 0 <= fmin < fmax <= rate / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= rate / 2, got fmin={fmin}, fmax={fmax}, rate={rate}.")
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * rate / n_fft
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up, down = (freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)
    return torch.from_numpy(np.clip(np.minimum(up, down), 0.0, None)).float()


def _waves(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, L) or (B, L) -> (B, L) float32."""
    if x.ndim == 3 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 2:
        raise ValueError(f"waveforms must be (B, 1, L) or (B, L), got {tuple(x.shape)}.")
    return x.float()


def power_spectrogram(x: torch.Tensor, n_fft: int = 256, hop: int = 64) -> torch.Tensor:
    """|STFT|^2 with a periodic Hann window, frames centred (zero padding n_fft / 2 each side):
    (B, 1, L) -> (B, n_fft // 2 + 1, 1 + L // hop)."""
    window = torch.hann_window(n_fft, periodic=True, device=x.device)
    spec = torch.stft(_waves(x), n_fft, hop, window=window, center=True, pad_mode="constant", return_complex=True)
    return spec.abs() ** 2


def log_mel(x: torch.Tensor, rate: int, n_fft: int = 256, hop: int = 64, n_mels: int = 40, floor: float = 1e-6,
            fb: torch.Tensor | None = None) -> torch.Tensor:
    """log(mel power + floor): (B, 1, L) -> (B, n_mels, frames) (natural log)."""
    fb = mel_filterbank(n_fft, rate, n_mels) if fb is None else fb
    return torch.log(torch.einsum("mf,bft->bmt", fb.to(x.device), power_spectrogram(x, n_fft, hop)) + floor)


# ------------------------------------------------------------------------------------------------- classifier
@dataclass(frozen=True)
class ClassifierConfig:
    """The digit classifier and its training (all ours: no published recipe applies to this data)."""

    rate: int = 8000
    n_fft: int = 256
    hop: int = 64
    n_mels: int = 40
    widths: tuple[int, ...] = (16, 32, 64, 64)
    feature_dim: int = 64
    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    # augmentation, so that imperfect samples are judged fairly: shift, gain, white noise
    max_shift: float = 0.15          # seconds, circular-free (zero fill)
    gain: tuple[float, float] = (0.3, 1.0)
    noise_prob: float = 0.5
    snr_db: tuple[float, float] = (5.0, 40.0)
    # the reject class: this share of every batch is replaced by negatives (label 10)
    negative_share: float = 0.3

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


N_CLASSES = 11          # ten digits and "not a digit" (index 10)
REPORT_THRESHOLDS = (0.5, 0.7, 0.9)   # recognised shares reported beside the chosen threshold's
REJECT = 10


class DigitClassifier(nn.Module):
    """Log-mel front end (fixed) + a small CNN: waves (B, 1, L) -> logits (B, 11); :meth:`features` gives the
    penultimate layer (B, feature_dim), the space of the Fréchet distance. Global average pooling over time and
    frequency makes it indifferent to where in the second the word is."""

    def __init__(self, config: ClassifierConfig = ClassifierConfig(), n_classes: int = N_CLASSES):
        super().__init__()
        self.config = config
        self.register_buffer("fb", mel_filterbank(config.n_fft, config.rate, config.n_mels))
        blocks, c_in = [], 1
        for w in config.widths:
            blocks += [nn.Conv2d(c_in, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)]
            c_in = w
        self.body = nn.Sequential(*blocks)
        self.feature = nn.Sequential(nn.Linear(c_in, config.feature_dim), nn.ReLU())
        self.head = nn.Linear(config.feature_dim, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        spec = log_mel(x, c.rate, c.n_fft, c.hop, c.n_mels, fb=self.fb)
        return self.feature(self.body(spec[:, None]).mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def augment(x: torch.Tensor, config: ClassifierConfig, generator: torch.Generator) -> torch.Tensor:
    """Random shift (zero fill), gain and white noise at a random SNR, each sample on its own: (B, 1, L) -> same."""
    b, _, n = x.shape
    u = torch.rand(b, 4, generator=generator)
    shift = ((2 * u[:, 0] - 1) * config.max_shift * config.rate).round().long()
    idx = torch.arange(n)[None] - shift[:, None]
    valid = (idx >= 0) & (idx < n)
    x = torch.where(valid[:, None], x.gather(2, idx.clamp(0, n - 1)[:, None]), torch.zeros_like(x))
    lo, hi = config.gain
    x = x * (lo + (hi - lo) * u[:, 1])[:, None, None]
    snr = config.snr_db[0] + (config.snr_db[1] - config.snr_db[0]) * u[:, 2]
    power = x.pow(2).mean(dim=(1, 2))
    sd = torch.sqrt(power / 10 ** (snr / 10)) * (u[:, 3] < config.noise_prob)
    return x + sd[:, None, None] * torch.randn(x.shape, generator=generator)


def negatives(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Not-a-digit clips made from a batch of digits (B, 1, L), one kind per clip chosen at random: white noise,
    AR(1)-coloured noise (low- or high-tilted), speech-shaped noise (the clip's |FFT| with random phases),
    segment-shuffled speech (8 to 40 pieces), time-reversed speech, and speech-shaped noise under the clip's
    amplitude envelope (|x| averaged over L / 50 samples: the word's loudness contour, no spectral motion);
    noise levels random (RMS 0.003 .. 0.5), the enveloped noise at the clip's RMS."""
    b, _, n = x.shape
    kind = torch.randint(0, 6, (b,), generator=generator)
    level = 10 ** (-2.5 + 2.2 * torch.rand(b, 1, 1, generator=generator))
    white = torch.randn(x.shape, generator=generator)
    out = torch.empty_like(x)
    for i in range(b):
        k = int(kind[i])
        if k == 0:
            y = white[i]
        elif k == 1:
            a = float(1.9 * torch.rand(1, generator=generator) - 0.95)
            y = torch.from_numpy(scipy.signal.lfilter([1.0], [1.0, -a], white[i].numpy())).float()
        elif k == 2:
            spec = torch.fft.rfft(x[i])
            phase = torch.exp(2j * math.pi * torch.rand(spec.shape, generator=generator))
            y = torch.fft.irfft(spec.abs() * phase, n=n)
        elif k == 3:
            pieces = int(torch.randint(8, 41, (1,), generator=generator))
            cuts = torch.linspace(0, n, pieces + 1).long()
            order = torch.randperm(pieces, generator=generator)
            y = torch.cat([x[i][:, cuts[j]:cuts[j + 1]] for j in order.tolist()], dim=1)
        elif k == 4:
            y = x[i].flip(-1)
        else:
            spec = torch.fft.rfft(x[i])
            phase = torch.exp(2j * math.pi * torch.rand(spec.shape, generator=generator))
            width = max(1, n // 50)
            env = F.avg_pool1d(x[i].abs()[None], width, 1, width // 2, count_include_pad=True)[0, :, :n]
            y = torch.fft.irfft(spec.abs() * phase, n=n) * env
            y = y * x[i].pow(2).mean().sqrt() / y.pow(2).mean().sqrt().clamp_min(1e-8)
        if k <= 1:
            y = y / y.pow(2).mean().sqrt().clamp_min(1e-8) * level[i]
        out[i] = y.clamp(-1, 1)
    return out


def train_classifier(waves: torch.Tensor, labels: torch.Tensor, config: ClassifierConfig = ClassifierConfig(),
                     progress: bool = False) -> DigitClassifier:
    """Train on (N, 1, L) waves and (N,) digits with AdamW and a cosine LR, deterministic given ``config.seed``
    (one generator for init, order and augmentation). Returns the model in eval mode, on the CPU."""
    torch.manual_seed(config.seed)
    model = DigitClassifier(config)
    g = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.AdamW(model.parameters(), config.lr, weight_decay=1e-4)
    steps_per_epoch = len(labels) // config.batch_size
    total = config.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    model.train()
    for epoch in range(config.epochs):
        order = torch.randperm(len(labels), generator=g)
        for k in range(steps_per_epoch):
            idx = order[k * config.batch_size:(k + 1) * config.batch_size]
            x, y = waves[idx].clone(), labels[idx].clone()
            neg = torch.rand(len(idx), generator=g) < config.negative_share
            x = augment(x, config, g)
            if neg.any():
                x[neg], y[neg] = negatives(waves[idx][neg], g), REJECT
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if progress:
            print(f"classifier epoch {epoch + 1}/{config.epochs}: loss {loss.item():.4f}", flush=True)
    return model.eval()


@torch.no_grad()
def classify(classifier: DigitClassifier, waves: torch.Tensor, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities (N, 11), penultimate features (N, D)) of waves (N, 1, L), in eval mode, float32 on the CPU."""
    was = classifier.training
    classifier.eval()
    dev = next(classifier.parameters()).device
    probs, feats = [], []
    for i in range(0, len(waves), batch):
        f = classifier.features(waves[i:i + batch].to(dev).float())
        probs.append(F.softmax(classifier.head(f), dim=1).cpu())
        feats.append(f.cpu())
    classifier.train(was)
    return torch.cat(probs), torch.cat(feats)


def accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of argmax predictions (over all classes, "not a digit" included) equal to the labels."""
    return float((probs.argmax(1) == labels.to(probs.device)).float().mean())


CLASSIFIER_VERSION = 3   # bump when the training code changes (v1: ten classes; v2: reject class; v3: envelope noise)


def classifier_path(config: ClassifierConfig, data_key: str) -> str:
    """``<cache>/spoken-digits/classifier-<data key>-v<version>-<config key>.pt``."""
    return str(cache_dir() / "spoken-digits" / f"classifier-{data_key}-v{CLASSIFIER_VERSION}-{config.key()}.pt")


def digit_classifier(config: ClassifierConfig = ClassifierConfig(), progress: bool = False) -> tuple[DigitClassifier, dict]:
    """The classifier for the default spoken-digits grid at ``config.rate``, trained once and cached, with its
    record: ``{"test_accuracy", "test_accuracy_noisy", "test_negatives_rejected", "train_accuracy", "n_train",
    "n_test", "config"}`` (test = the held-out speakers; "noisy" = with the training augmentation, seed 1;
    "negatives" = :func:`negatives` of the test clips, seed 2, classed as "not a digit")."""
    from smlib.data.spoken_digits import DEFAULT_GRID, load_spoken_digits
    path = classifier_path(config, f"{DEFAULT_GRID.key()}-{config.rate}hz")
    model = DigitClassifier(config)
    try:
        saved = torch.load(path, weights_only=True)
    except FileNotFoundError:
        saved = None
    if saved is not None:
        model.load_state_dict(saved["state_dict"])
        return model.eval(), json.loads(saved["record"])
    xtr, ytr = load_spoken_digits("train", config.rate)
    xte, yte = load_spoken_digits("test", config.rate)
    model = train_classifier(xtr, ytr, config, progress)
    noisy = augment(xte, config, torch.Generator().manual_seed(1))
    neg = negatives(xte, torch.Generator().manual_seed(2))
    record = {"test_accuracy": accuracy(classify(model, xte)[0], yte),
              "test_accuracy_noisy": accuracy(classify(model, noisy)[0], yte),
              "test_negatives_rejected": accuracy(classify(model, neg)[0], torch.full_like(yte, REJECT)),
              "train_accuracy": accuracy(classify(model, xtr)[0], ytr),
              "n_train": len(ytr), "n_test": len(yte), "config": asdict(config)}
    with atomic_path(path) as tmp:
        torch.save({"state_dict": model.state_dict(), "record": json.dumps(record)}, tmp)
    return model, record


# ------------------------------------------------------------------------------------------------- scores
def digit_scores(probs: torch.Tensor, threshold: float = 0.9) -> dict:
    """Label-free scores of (N, 11) class probabilities (ten digits, then "not a digit"; (N, 10) without the reject
    column is accepted too): confidence, recognised share at ``threshold`` (and at each of ``REPORT_THRESHOLDS``, as
    ``recognised@0.5`` ...), rejected share, entropy (nats) and
    inception score of the digit distribution renormalised over the ten digits, and the counts of the recognised
    digits."""
    if probs.ndim != 2 or probs.shape[1] not in (10, N_CLASSES):
        raise ValueError(f"probs must be (N, 10) or (N, {N_CLASSES}), got {tuple(probs.shape)}.")
    digits = probs[:, :10].double()
    top = digits.max(dim=1)
    q = (digits / digits.sum(dim=1, keepdim=True).clamp_min(1e-30)).clamp_min(1e-12)
    marginal = q.mean(dim=0, keepdim=True)
    kl = (q * (q.log() - marginal.log())).sum(dim=1)
    recognised = top.values >= threshold
    rejected = (probs.argmax(dim=1) == REJECT).double().mean() if probs.shape[1] == N_CLASSES else 0.0
    shares = {f"recognised@{c:g}": float((top.values >= c).double().mean()) for c in REPORT_THRESHOLDS}
    return {"confidence": float(top.values.mean()), "recognised": float(recognised.double().mean()),
            "rejected": float(rejected), "threshold": float(threshold), **shares,
            "entropy": float(-(q * q.log()).sum(dim=1).mean()), "inception_score": float(kl.mean().exp()),
            "digit_counts": torch.bincount(top.indices[recognised], minlength=10).tolist()}


def frechet_feature_distance(feats: np.ndarray | torch.Tensor, reference: np.ndarray | torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D) and (M, D) (``smlib.metrics.fid``)."""
    mu1, s1 = feature_statistics(np.asarray(feats, dtype=np.float64))
    mu2, s2 = feature_statistics(np.asarray(reference, dtype=np.float64))
    return frechet_distance(mu1, s1, mu2, s2)


def mean_log_mel_db(x: torch.Tensor, rate: int, n_fft: int = 256, hop: int = 64, n_mels: int = 40) -> torch.Tensor:
    """10 log10 of the mel power averaged over clips and frames: (B, 1, L) -> (n_mels,) float64."""
    power = torch.einsum("mf,bft->m", mel_filterbank(n_fft, rate, n_mels).double(),
                         power_spectrogram(x, n_fft, hop).double())
    return 10 * torch.log10(power / (x.shape[0] * (1 + x.shape[-1] // hop)) + 1e-20)


def mean_psd_db(x: torch.Tensor, n_bands: int = 32) -> torch.Tensor:
    """10 log10 of the periodogram |rfft(x)|^2 / L averaged over clips and pooled into ``n_bands`` equal-width
    bands above DC: (B, 1, L) -> (n_bands,) float64."""
    w = _waves(x).double()
    power = (torch.fft.rfft(w, dim=-1).abs() ** 2 / w.shape[-1]).mean(dim=0)[1:]
    edges = np.linspace(0, len(power), n_bands + 1).round().astype(int)
    return torch.stack([10 * torch.log10(power[a:b].mean() + 1e-20) for a, b in zip(edges[:-1], edges[1:])])


def spectral_errors(samples: torch.Tensor, reference: torch.Tensor, rate: int) -> dict:
    """Mean |dB difference| of the samples' average log-mel and band-PSD spectra from the reference's, with the
    per-band differences (samples - reference, dB)."""
    mel = mean_log_mel_db(samples, rate) - mean_log_mel_db(reference, rate)
    psd = mean_psd_db(samples) - mean_psd_db(reference)
    return {"log_mel_error_db": float(mel.abs().mean()), "psd_error_db": float(psd.abs().mean()),
            "log_mel_diff_db": [round(float(v), 3) for v in mel], "psd_diff_db": [round(float(v), 3) for v in psd]}


class AudioEvaluator:
    """Everything above for a batch of generated waves, against a fixed reference (the test split).

    ``evaluator(samples (N, 1, L)) -> dict`` of :func:`digit_scores`, ``fd`` (with ``n_samples``, ``n_reference``)
    and :func:`spectral_errors`."""

    def __init__(self, classifier: DigitClassifier, reference: torch.Tensor, rate: int, threshold: float = 0.9):
        self.classifier, self.rate, self.threshold = classifier.eval(), int(rate), float(threshold)
        self.reference = reference
        self.reference_feats = classify(classifier, reference)[1].numpy()

    def __call__(self, samples: torch.Tensor) -> dict:
        samples = samples.detach().float().cpu().clamp(-1, 1)
        probs, feats = classify(self.classifier, samples)
        out = digit_scores(probs, self.threshold)
        out["fd"] = frechet_feature_distance(feats.numpy(), self.reference_feats)
        out["n_samples"], out["n_reference"] = len(samples), len(self.reference)
        out.update(spectral_errors(samples, self.reference, self.rate))
        return out


__all__ = ["hz_to_mel", "mel_to_hz", "mel_filterbank", "power_spectrogram", "log_mel", "ClassifierConfig",
           "N_CLASSES", "REJECT", "REPORT_THRESHOLDS", "CLASSIFIER_VERSION", "DigitClassifier", "augment", "negatives", "train_classifier", "classify", "accuracy", "classifier_path",
           "digit_classifier", "digit_scores", "frechet_feature_distance", "mean_log_mel_db", "mean_psd_db",
           "spectral_errors", "AudioEvaluator"]
