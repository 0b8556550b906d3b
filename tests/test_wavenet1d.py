"""WaveNet1d (DiffWave's network, patched): shapes, fold/unfold, DiffWave's zero-initialised output, the receptive
field against a brute-force gradient measurement, the step embedding against its formula, and one training step of
the audio task with and without a spectral term (through smlib.train.fit)."""
import math

import pytest
import torch

from smlib.audio import AUDIO_ARMS, AudioConfig, build_audio_run
from smlib.diffusion import make_formulation
from smlib.models.wavenet1d import WAVENET1D_CONFIGS, StepEmbedding, WaveNet1d, build_wavenet1d
from smlib.train import TrainConfig, fit


def test_shapes_and_zero_output_at_init(one_thread):
    m = WaveNet1d(channels=8, layers=3, cycle=2, patch_size=4)
    x, t = torch.randn(2, 1, 64), torch.rand(2)
    out = m(x, t)
    assert out.shape == (2, 1, 64)
    # DiffWave zero-initialises the last projection's weight (not its bias): the output ignores the input
    assert torch.equal(out, m(torch.randn(2, 1, 64), torch.rand(2)))
    assert torch.equal(out[0, 0, :4], m.output_projection.bias.detach())


def test_linear_skip_is_a_zero_initialised_identity_path(one_thread):
    m = WaveNet1d(channels=8, layers=2, cycle=2, patch_size=4, linear_skip=True)
    x, t = torch.randn(2, 1, 64), torch.rand(2)
    assert torch.equal(m(x, t), WaveNet1d.forward(m, torch.randn(2, 1, 64), t))    # zero at init: input ignored
    with torch.no_grad():
        m.linear_skip.weight.copy_(torch.eye(4)[:, :, None])
        m.output_projection.bias.zero_()
    torch.testing.assert_close(m(x, t), x)       # the skip alone carries the input through fold and unfold


def test_fold_unfold_roundtrip_and_layout():
    m = WaveNet1d(in_channels=2, channels=4, layers=1, patch_size=3)
    x = torch.arange(2 * 2 * 12, dtype=torch.float32).reshape(2, 2, 12)
    f = m.fold(x)
    assert f.shape == (2, 6, 4)
    assert f[0, :3, 1].tolist() == x[0, 0, 3:6].tolist()        # frame 1 of channel 0 = samples 3..5
    assert torch.equal(m.unfold(f), x)
    with pytest.raises(ValueError, match="multiple of patch_size"):
        m.fold(torch.zeros(1, 2, 13))


def test_receptive_field_by_gradient(one_thread):
    torch.manual_seed(0)
    m = WaveNet1d(channels=4, layers=3, cycle=3, patch_size=2).double()
    torch.nn.init.normal_(m.output_projection.weight)            # make the output depend on the input
    n = 128
    x = torch.randn(1, 1, n, dtype=torch.float64, requires_grad=True)
    centre = 64
    m(x, torch.tensor([0.3]))[0, 0, centre].backward()
    seen = torch.nonzero(x.grad[0, 0]).flatten()
    # dilations 1, 2, 4 -> frames within 7 of frame 32 -> samples 2 * (32 - 7) .. 2 * (32 + 7) + 1
    assert m.receptive_field == 2 * (1 + 2 * 7)
    assert seen.min().item() == 2 * (32 - 7) and seen.max().item() == 2 * (32 + 7) + 1
    assert len(seen) == m.receptive_field


def test_step_embedding_formula():
    e = StepEmbedding()
    t = torch.tensor([0.0, 0.25, 1.0])
    i = torch.arange(64)
    arg = 1000 * t[:, None] * 10.0 ** (i * 4.0 / 63.0)
    table = torch.cat([torch.sin(arg), torch.cos(arg)], 1)      # DiffWave's _build_embedding at step 1000 t
    ref = torch.nn.functional.silu(e.proj2(torch.nn.functional.silu(e.proj1(table))))
    torch.testing.assert_close(e(t), ref)


def test_named_sizes_and_diffwave_receptive_field():
    assert build_wavenet1d("cpu-s").receptive_field == 8 * (1 + 2 * 1023)
    # DiffWave's SC09 network: 36 layers, cycle 12 -> 24,571 samples (no need to build its 256 channels here)
    assert 1 + 2 * sum(2 ** (i % 12) for i in range(36)) == 24571
    assert WAVENET1D_CONFIGS["diffwave-sc09"]["channels"] == 256
    with pytest.raises(ValueError, match="unknown WaveNet1d size"):
        build_wavenet1d("huge")
    with pytest.raises(ValueError, match="unconditional"):
        build_wavenet1d("cpu-s")(torch.zeros(1, 1, 80), torch.zeros(1), torch.zeros(1, dtype=torch.long))


@pytest.mark.parametrize("arm", ["ddpm", "ddpm-ap-1", "ddpm-haar-1", "edm", "edm-ap-1"])
def test_one_training_step_moves_the_weights(arm, tmp_path, one_thread):
    cfg = AudioConfig(model=dict(channels=4, layers=2, cycle=2, patch_size=8), steps=2, batch_size=4, warmup_steps=0)
    task = build_audio_run(arm, cfg, seed=0, length=256)
    base, term = task.terms(torch.randn(4, 1, 256) * 0.3)
    assert base.shape == (4,) and (term is None) == (arm in ("ddpm", "edm"))
    if term is not None:
        assert term.shape == (4,) and torch.all(term > 0)
    before = [p.detach().clone() for p in task.model.parameters()]
    data = (torch.randn(8, 1, 256) * 0.3, torch.zeros(8, dtype=torch.long))
    res = fit(task, TrainConfig(steps=2, batch_size=4, lr=1e-3, ckpt_every=None, log_every=1, out_dir=tmp_path,
                                device="cpu"), data, progress=False)
    assert res.completed and math.isfinite(res.train_logs["loss"])
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, task.model.parameters()))
    assert ("loss/spectral" in res.train_logs) == (term is not None)


def test_edm_arm_is_the_preconditioned_lambda_weighted_loss():
    from smlib.diffusion.edm import EDMPrecond, edm_weight
    cfg = AudioConfig(model=dict(channels=4, layers=1, cycle=1, patch_size=8))
    task = build_audio_run("edm", cfg, seed=0, length=64)
    assert isinstance(task.model, EDMPrecond)
    x = torch.randn(3, 1, 64)
    torch.manual_seed(1)
    a, _ = task.terms(x)
    torch.manual_seed(1)
    b, logs = task.formulation.loss(task.model, x)
    torch.testing.assert_close(a, edm_weight(task.formulation, logs["t"]) * b)


def test_plain_arm_never_computes_x0_hat():
    # lam = 0 or no term: the loss is exactly the formulation's eps-MSE (same noise, same numbers)
    cfg = AudioConfig(model=dict(channels=4, layers=1, cycle=1, patch_size=8))
    task = build_audio_run("ddpm", cfg, seed=0, length=64)
    x = torch.randn(3, 1, 64)
    torch.manual_seed(1)
    a, _ = task.terms(x)
    torch.manual_seed(1)
    b, _ = make_formulation("ddpm-linear").loss(task.model, x)
    assert torch.equal(a, b) and AUDIO_ARMS["ddpm"].regularised is False


def test_the_audio_run_takes_a_one_dimensional_unet(tmp_path, one_thread):
    from smlib.audio import build_audio_backbone
    from smlib.diffusion.edm import EDMPrecond
    from smlib.models.unet import UNet

    spec = {"arch": "unet", "model_channels": 8, "channel_mult": [1, 2], "num_blocks": 1, "attn_resolutions": []}
    net = build_audio_backbone(spec, 64)
    assert isinstance(net, UNet) and net.dims == 1 and net.input_size == 64
    cfg = AudioConfig(model=spec, steps=2, batch_size=4, warmup_steps=0)
    task = build_audio_run("edm-ap-1", cfg, seed=0, length=64)
    assert isinstance(task.model, EDMPrecond)
    base, term = task.terms(torch.randn(4, 1, 64) * 0.3)
    assert base.shape == term.shape == (4,) and torch.all(term > 0)
    data = (torch.randn(8, 1, 64) * 0.3, torch.zeros(8, dtype=torch.long))
    res = fit(task, TrainConfig(steps=2, batch_size=4, lr=1e-3, ckpt_every=None, log_every=1, out_dir=tmp_path,
                                device="cpu"), data, progress=False)
    assert res.completed and math.isfinite(res.train_logs["loss"])
    with pytest.raises(ValueError, match="divisible by 2"):
        build_audio_backbone({**spec, "channel_mult": [1, 2, 2, 2]}, 36)


def test_the_audio_sweep_writes_one_file_per_run_and_the_cli_runs_it(tmp_path, monkeypatch, capsys):
    import smlib.audio as au
    from smlib.cli import main

    calls = []

    def fake_run_audio(arm, cfg, *, seed, out_dir, **kw):
        calls.append((arm, seed, str(out_dir)))
        return {"arm": arm, "label": au.AUDIO_ARMS[arm].label, "seed": seed, "completed": True,
                "config_steps": cfg.steps, "final": {"recognised": 0.5, "fd": 12.0, "log_mel_error_db": 1.5,
                                                     "psd_error_db": 2.0}}

    monkeypatch.setattr(au, "run_audio", fake_run_audio)
    args = ["audio", "--preset", "ci", "--arm", "ddpm", "edm-ap-1", "--seeds", "1", "--device", "cpu",
            "--results", str(tmp_path / "results"), "--runs-dir", str(tmp_path / "runs")]
    assert main(args) == 0
    assert [(a, s) for a, s, _ in calls] == [("ddpm", 1), ("edm-ap-1", 1)]
    assert calls[0][2].endswith("runs/audio/ci/ddpm/seed1")
    assert "recognised 0.50, FD 12.0" in capsys.readouterr().out
    files = sorted(p.name for p in (tmp_path / "results" / "audio" / "ci").iterdir())
    assert files == ["ddpm-seed1.json", "edm-ap-1-seed1.json"]
    loaded = au.AUDIO_SWEEP.load("ci", tmp_path / "results")
    assert au.AUDIO_SWEEP.values(loaded.runs, "recognised") == {"ddpm": {1: 0.5}, "edm-ap-1": {1: 0.5}}
    assert main(args) == 0 and len(calls) == 2               # committed runs are read back, not rerun
