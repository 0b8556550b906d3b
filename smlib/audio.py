"""One run of the audio experiment (issue 30): spoken digits -> a DiffWave-style network -> DDPM training with or
without the seed paper's spectral term -> unconditional samples -> the digit classifier's scores.

    cfg = AudioConfig.at("small")
    result = run_audio("ddpm-ap-1", cfg, seed=0, out_dir="runs/audio/small/ddpm-ap-1/seed0")

The seed paper (Chandran et al. 2026, arXiv 2603.02447) fine-tunes DiffWave on LJSpeech with
L = L_DDPM + lam L_S(x0, x0_hat), x0_hat "a deterministic DDIM update initialised at x_t" (its §5.3), which for an
eps-model is Eq. 5, x0_hat = (x_t - sigma eps_hat) / alpha: :meth:`smlib.diffusion.Formulation.loss` with
``return_x0_hat=True``. The terms are :func:`smlib.diffusion.spectral_loss.spectral_loss` with ``signal_dims=1``
(FFT or DWT over time, per-element means). Here the model is trained from scratch, unconditionally, on
:mod:`smlib.data.spoken_digits`; every arm shares the data, network, optimiser, EMA and sampler, and an arm is a
formulation and a term, as in chapter 8:

* ``ddpm``: DDPM's linear betas (1000 steps), eps-prediction, eps-MSE (the paper's DiffWave setting; DiffWave's own
  schedule is 50 steps to beta 0.05);
* ``edm``: EDM's preconditioned denoiser (:class:`smlib.diffusion.edm.EDMPrecond`) on the continuous VP path with
  the lambda_EDM-weighted MSE; x0_hat is D itself.

Measured on the CPU-sized network (p = 8, single-threaded, 200-600 steps): the eps-predicting DDPM model does not
learn the near-identity eps_hat ~ x_t at high noise (eps-MSE ~0.04 at t >= 0.6 where ~0 is reachable), which
sigma / alpha amplifies into samples of RMS 8-120 against the data's 0.11 (after the data scale); EDM's c_skip
carries that identity, and its samples keep the data's level from the first evaluation. ``data_scale`` multiplies
the waveforms during training (RMS 0.11 -> 0.45 at 4, near EDM's sigma_data = 0.5) and divides the samples.

**The weight.** ``lam = 1`` is chapter 8's reading of the paper's "unweighted" form (lambda = 1) under our
per-element reduction. The paper's audio runs use lambda in {1e-4, 1e-5, 1e-6} with its norms as written,
||.||_1 = a sum over coefficients; if its DDPM loss is a per-element mean (DiffWave's code: ``nn.L1Loss``, a mean),
its lambda ||.||_1 equals our lam * mean with lam = lambda N, N = 15,872 samples per crop (62 frames x hop 256):
lam = 1.6, 0.16, 0.016 (our derivation; the paper does not state its reduction). So lam = 1 sits inside the
paper's audio range under that reading; lam = 0.1 is the next arm down.

Result (``result.json`` in ``out_dir``): arm, seed, parameter count, the final scores of the EMA model's samples
(:class:`smlib.metrics.audio.AudioEvaluator`: recognised share, confidence, entropy, inception score, Fréchet
distance in the classifier's features, log-mel and PSD errors), the curve of every score and loss over steps, wall
times, provenance, the first ``COMMITTED_SAMPLES`` samples packed as int16 (``samples``, for the book's players);
``samples.pt`` holds the first ``n_keep`` samples as int16. A completed run of the same
configuration is read back, not redone.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from smlib.atomic import atomic_path
from smlib.config import DiffusionRecipeConfig
from smlib.data.spoken_digits import DEFAULT_GRID, load_spoken_digits, spoken_digits_meta
from smlib.device import resolve_device
from smlib.diffusion import Formulation, sample
from smlib.diffusion.spectral_objective import SpectralArm, SpectralObjective, formulation_for, model_for
from smlib.learning_bar import load_bars
from smlib.metrics.audio import AudioEvaluator, ClassifierConfig, digit_classifier
from smlib.models.factory import count_parameters
from smlib.models.unet import UNet
from smlib.models.wavenet1d import build_wavenet1d
from smlib.provenance import provenance
from smlib.results import RunContext, pack_int16, runs_root
from smlib.sweep import Metric, Sweep, final, load_families
from smlib.train import fit
from smlib.train.checkpoint import canonical_config, config_diff
from smlib.train.logs import read_metrics, write_json

AP = "fourier-amplitude-phase"
#: samples each run's result carries (int16 PCM at the config's rate, ~11 KB of base64 a second at 8 kHz)
COMMITTED_SAMPLES = 4


#: an arm of the audio experiment: chapter 8's (:class:`smlib.diffusion.spectral_objective.SpectralArm`), whose
#: spectral term runs over time (``signal_dims=1``)
AudioArm = SpectralArm


HAAR = dict(wavelet="haar", levels=3, include_ll=True)
AUDIO_ARMS: dict[str, AudioArm] = {
    "ddpm": AudioArm("DDPM, eps-MSE"),
    "ddpm-ap-1": AudioArm("DDPM + amp-phase (paper's unweighted)", "ddpm", AP, 1.0),
    "ddpm-ap-0.1": AudioArm("DDPM + 0.1 amp-phase", "ddpm", AP, 0.1),
    "ddpm-amp-1": AudioArm("DDPM + Fourier amplitude L1", "ddpm", "fourier-amplitude", 1.0),
    "ddpm-haar-1": AudioArm("DDPM + Haar L1 (3 levels)", "ddpm", "wavelet", 1.0, options=HAAR),
    "edm": AudioArm("EDM, lambda_EDM-weighted MSE", "edm"),
    "edm-ap-1": AudioArm("EDM + lambda_EDM amp-phase (paper's weighted)", "edm", AP, 1.0, weighted=True),
    "edm-ap-0.1": AudioArm("EDM + 0.1 lambda_EDM amp-phase", "edm", AP, 0.1, weighted=True),
    "edm-amp-1": AudioArm("EDM + lambda_EDM Fourier amplitude L1", "edm", "fourier-amplitude", 1.0, weighted=True),
    "edm-haar-1": AudioArm("EDM + lambda_EDM Haar L1 (3 levels)", "edm", "wavelet", 1.0, weighted=True,
                           options=HAAR),
}


@dataclass(frozen=True)
class AudioConfig(DiffusionRecipeConfig):
    """Data, network, training (TrainConfig names), sampling and scoring of one audio run; ``at``, ``replace``,
    ``train_config`` and ``run_identity`` as every recipe's (:class:`smlib.config.PresetConfig`)."""

    rate: int = 8000
    n_train: int | None = 400                # clips of the training split, evenly spaced (None: all 4,320)
    data_scale: float = 1.0                  # x0 = scale * wave during training, samples / scale before scoring
    model: dict = field(default_factory=lambda: dict(channels=16, layers=4, cycle=10, patch_size=16,
                                                     linear_skip=True))
    # optimisation: the shared knobs (DiffusionRecipeConfig), a smaller budget
    steps: int = 20
    batch_size: int = 8
    warmup_steps: int = 5
    ema_decay: float | None = 0.99
    # sampling and scoring (the EMA model)
    sampler: str = "dpmpp_2m"
    sample_steps: int = 10
    n_eval: int = 16
    n_reference: int | None = 200            # clips of the test split as the reference (None: all 1,440)
    threshold: float = 0.9                   # a sample is "recognised" when max_y p(y|x) >= threshold
    n_keep: int = 16
    classifier: dict = field(default_factory=lambda: asdict(ClassifierConfig()))
    # the sweep (not part of a run's identity)
    arms: tuple[str, ...] = ("ddpm", "ddpm-ap-1")
    seeds: tuple[int, ...] = (0,)

    def classifier_config(self) -> ClassifierConfig:
        c = dict(self.classifier)
        c["rate"] = self.rate
        for k in ("widths", "gain", "snr_db"):
            c[k] = tuple(c[k])
        return ClassifierConfig(**c)


AudioConfig.PRESETS = AUDIO_PRESETS = {
    # seconds: a smoke test of the whole path (tiny network, 20 steps); learns nothing
    "ci": AudioConfig(),
    # the largest run that fits ~20 min on one CPU thread (measured, 2026-12-07, 2 shared cores under heavy load:
    # a step 1.0 s at best, 1.2-3.5 s under load; an evaluation of 256 samples 73-250 s). On it the EDM baseline
    # does not learn digits (issue 30's report): FD 224 -> 119 over 1,000 steps (classifier v2), and its final
    # samples, noise bursts with a word-like envelope, are 93 % "not a digit" and 2 % recognised at 0.5 (v3).
    "small": AudioConfig(preset="small", n_train=None, data_scale=4.0,
                         model=dict(channels=32, layers=10, cycle=10, patch_size=8, linear_skip=True),
                         steps=1000, batch_size=32, lr=1e-3, warmup_steps=50, ema_decay=0.99, eval_every=None,
                         ckpt_every=200, log_every=25, sample_steps=25, n_eval=256, n_reference=None, n_keep=32),
}


AudioConfig.ARM_NAMES = tuple(AUDIO_ARMS)


def arm_of(name: str) -> AudioArm:
    """The arm called ``name``; an unknown name is one line listing the known ones."""
    if name not in AUDIO_ARMS:
        raise ValueError(f"unknown audio arm {name!r}; choose one of: {', '.join(AUDIO_ARMS)}.")
    return AUDIO_ARMS[name]


class AudioDiffusionTask(SpectralObjective):
    """:class:`smlib.train.Task` for waveform diffusion with an optional spectral term on x0_hat (over time).

    Batches are ``(waves (B, 1, L), digits (B,))``; digits are ignored (unconditional). The loss is the batch mean
    of base + lam w L_S(x0, x0_hat) of the waves times ``data_scale`` (:class:`SpectralObjective`)."""

    def __init__(self, model: nn.Module, formulation: Formulation, arm: AudioArm, config: dict,
                 data_scale: float = 1.0, evaluator=None):
        super().__init__(model, formulation, arm, signal_dims=1)
        self.config, self.data_scale = config, float(data_scale)
        if evaluator is not None:
            self.evaluate = evaluator

    def loss(self, batch, step: int):
        return self.mean_loss(batch[0].float() * self.data_scale)

    def config_dict(self) -> dict:
        return self.config


class SampleScorer:
    """``task.evaluate``: draw ``n`` samples from the (EMA) model with the configured sampler (seeded), undo the
    data scale, clip to [-1, 1] and score them with :class:`AudioEvaluator`. Keeps the last samples and the last
    full score dict (lists included), and the wall time of each evaluation."""

    def __init__(self, evaluator: AudioEvaluator, formulation: Formulation, cfg: AudioConfig, length: int,
                 seed: int, chunk: int = 64):
        self.evaluator, self.formulation, self.cfg, self.length = evaluator, formulation, cfg, int(length)
        self.seed, self.chunk = int(seed), int(chunk)
        self.last_samples: torch.Tensor | None = None
        self.last_scores: dict = {}
        self.seconds: list[float] = []

    def samples(self, model: nn.Module) -> torch.Tensor:
        """(n_eval, 1, L) in [-1, 1], the same noise at every evaluation (seed, chunk index)."""
        out = []
        for k, start in enumerate(range(0, self.cfg.n_eval, self.chunk)):
            n = min(self.chunk, self.cfg.n_eval - start)
            x = sample(model, self.formulation, (n, 1, self.length), self.cfg.sampler, self.cfg.sample_steps,
                       seed=self.seed * 1000 + k)
            out.append((x / self.cfg.data_scale).clamp(-1, 1).cpu())
        return torch.cat(out)

    def __call__(self, model: nn.Module, step: int) -> dict:
        t0 = time.time()
        self.last_samples = self.samples(model)
        self.last_scores = self.evaluator(self.last_samples)
        self.seconds.append(time.time() - t0)
        return self.last_scores


def build_audio_backbone(spec: dict, length: int) -> nn.Module:
    """The waveform network of a ``model`` spec: a 1-D DDPM++ U-Net for ``{"arch": "unet", ...}``
    (:class:`smlib.models.unet.UNet` with ``dims=1`` over ``length`` samples; ``length`` must halve
    ``len(channel_mult) - 1`` times), else the DiffWave-style :class:`~smlib.models.wavenet1d.WaveNet1d`. Chapter 8's
    toy showed a patched network failing a sharp per-sample target that a U-Net learns, hence the second choice."""
    spec = dict(spec)
    if spec.get("arch") == "unet":
        spec.pop("arch")
        return UNet(input_size=int(length), in_channels=1, dims=1, **spec)
    return build_wavenet1d(spec)


def build_audio_run(arm_name: str, cfg: AudioConfig, *, seed: int = 0, evaluator: AudioEvaluator | None = None,
                    length: int | None = None) -> AudioDiffusionTask:
    """The task of one arm and seed: network (initial weights a function of the seed), DDPM formulation, and with
    an evaluator the seeded sample scorer."""
    arm = arm_of(arm_name)
    length = int(length or cfg.rate)
    torch.manual_seed(int(seed))
    formulation = formulation_for(arm)
    model = model_for(arm, build_audio_backbone(cfg.model, length), formulation)
    scorer = SampleScorer(evaluator, formulation, cfg, length, seed) if evaluator is not None else None
    config = {"arm": arm_name, "formulation": arm.formulation, "term": arm.term, "lam": arm.lam,
              "weighted": arm.weighted, "options": dict(arm.options), **cfg.run_identity()}
    return AudioDiffusionTask(model, formulation, arm, config, cfg.data_scale, scorer)


def _evenly(n_total: int, n: int | None) -> torch.Tensor | None:
    if n is None or n >= n_total:
        return None
    return torch.linspace(0, n_total - 1, int(n)).round().long()


def audio_data(cfg: AudioConfig) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """((training waves (N, 1, L), digits (N,)), reference waves (M, 1, L) of the test split)."""
    x, y = load_spoken_digits("train", cfg.rate)
    idx = _evenly(len(y), cfg.n_train)
    if idx is not None:
        x, y = x[idx], y[idx]
    ref, _ = load_spoken_digits("test", cfg.rate)
    idx = _evenly(len(ref), cfg.n_reference)
    return (x, y), (ref if idx is None else ref[idx])


def run_audio(arm_name: str, cfg: AudioConfig | str = "ci", *, seed: int = 0, out_dir: str | os.PathLike,
              device="cpu", progress: bool = False, resume: bool = True,
              max_steps_this_call: int | None = None) -> dict:
    """One arm and seed, trained with :func:`smlib.train.fit` (resumable) and scored; writes ``result.json`` and
    ``samples.pt`` (int16, the first ``n_keep`` final samples) into ``out_dir`` and returns the result."""
    cfg = AudioConfig.at(cfg) if isinstance(cfg, str) else cfg
    arm = arm_of(arm_name)
    out = Path(out_dir)
    run_config = canonical_config({"arm": arm_name, **cfg.run_identity()})
    result_path = out / "result.json"
    if result_path.is_file() and max_steps_this_call is None:
        done = json.loads(result_path.read_text())
        diff = config_diff(done.get("config", {}), run_config)
        if diff:
            raise ValueError(f"{out} holds a run of another configuration (differs in: {', '.join(diff)}); delete "
                             "it or pass another out_dir.")
        if done.get("completed") and done.get("config_steps") == cfg.steps:
            return done
    dev = resolve_device(device)
    t0 = time.time()
    (waves, digits), reference = audio_data(cfg)
    classifier, classifier_record = digit_classifier(cfg.classifier_config())
    evaluator = AudioEvaluator(classifier.to(dev), reference, cfg.rate, cfg.threshold)
    task = build_audio_run(arm_name, cfg, seed=seed, evaluator=evaluator, length=waves.shape[-1])
    prep_s = time.time() - t0
    fitted = fit(task, cfg.train_config(seed=seed, device=dev, out_dir=out), (waves, digits), resume=resume, progress=progress,
                 max_steps_this_call=max_steps_this_call)
    scorer: SampleScorer = task.evaluate
    result = {"arm": arm_name, "label": arm.label, "seed": int(seed), "preset": cfg.preset,
              "formulation": arm.formulation, "term": arm.term, "lam": arm.lam, "weighted": arm.weighted, "num_params": count_parameters(task.model), "steps": fitted.step,
              "config_steps": cfg.steps, "completed": fitted.completed, "train_wall_time_s": round(fitted.wall_time_s, 2),
              "prep_time_s": round(prep_s, 2), "eval_seconds": [round(s, 2) for s in scorer.seconds],
              "classifier": classifier_record, "data": spoken_digits_meta(DEFAULT_GRID, cfg.rate),
              "config": run_config}
    if fitted.completed:
        result["final"] = dict(scorer.last_scores)
        result["curve"] = read_metrics(fitted.metrics_csv)
        keep = (scorer.last_samples[: cfg.n_keep] * 32767).round().clamp(-32768, 32767).to(torch.int16)
        with atomic_path(out / "samples.pt") as tmp:
            torch.save(keep, tmp)
        result["samples"] = pack_int16(keep[:COMMITTED_SAMPLES])     # what the book plays, from results/
        result["wall_time_s"] = round(time.time() - t0, 2)
        result["provenance"] = provenance()
        write_json(result_path, result)
    return result


def run_audio_arm(arm_name: str, seed: int, cfg: AudioConfig, ctx: RunContext) -> dict:
    """One (arm, seed) of :data:`AUDIO_SWEEP`: :func:`run_audio` in ``<runs>/audio/<preset>/<arm>/seed<k>``."""
    out = runs_root(ctx.runs_dir) / "audio" / cfg.preset / arm_name / f"seed{int(seed)}"
    return run_audio(arm_name, cfg, seed=seed, out_dir=out, device=ctx.device, progress=ctx.progress,
                     max_steps_this_call=ctx.max_steps_this_call)


#: the final scores of a run's samples that a comparison can be declared on
AUDIO_METRICS = (
    Metric("recognised", "share recognised as a digit", final("recognised"), lower_is_better=False, fmt=".2f"),
    Metric("fd", "FD in the classifier's features", final("fd")),
    Metric("log_mel_error_db", "log-mel error (dB)", final("log_mel_error_db"), fmt=".2f"),
    Metric("psd_error_db", "PSD error (dB)", final("psd_error_db"), fmt=".2f"),
)
#: where the audio sweep's comparisons and learning bar are declared, before its runs
AUDIO_DECLARED = Path(__file__).with_name("audio_declared.toml")
#: the audio sweep, ``results/audio/<preset>/<arm>-seed<k>.json``, judged paired by seed once its bar is met
AUDIO_SWEEP = Sweep("audio", {name: a.label for name, a in AUDIO_ARMS.items()}, AUDIO_METRICS,
                    load_families(AUDIO_DECLARED), run_audio_arm, bars=load_bars(AUDIO_DECLARED))


__all__ = ["AP", "HAAR", "AudioArm", "AUDIO_ARMS", "AudioConfig", "AUDIO_PRESETS", "arm_of",
           "AudioDiffusionTask",
           "SampleScorer", "build_audio_backbone", "build_audio_run", "audio_data", "run_audio",
           "run_audio_arm", "AUDIO_METRICS", "AUDIO_DECLARED", "AUDIO_SWEEP"]
