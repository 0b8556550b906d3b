"""Cost of the audio experiment's networks (issue 30), as a ratio to the ``small`` preset's WaveNet: one training
step and one sampler evaluation each, to size a 1-D U-Net that fits the CPU before its learning curve is measured.

The ``small`` preset's DiffWave-style WaveNet did not learn digits in 1,000 steps (its samples are word-shaped noise,
2% recognised); chapter 8's toy showed a patched network failing a sharp per-sample target that a U-Net learns,
so the candidates are the 1-D DDPM++ U-Net (:class:`smlib.models.unet.UNet`, ``dims=1``) at two widths, over one
second at 8 kHz and at 4 kHz. Each candidate is built by the experiment itself (:func:`smlib.audio.build_audio_run`,
EDM arm and its spectral-term arm): a training step is the task's loss on a batch of the preset's size, backward and AdamW;
an evaluation is one network call on a chunk of 64 noisy waveforms (a sampler step; an evaluation of the preset
costs ``n_eval / 64 * sample_steps`` (x2 for Heun-type steps) of them). Candidates are timed in interleaved rounds
(benchmarks/common.py), so machine drift hits all alike.

    python benchmarks/bench_audio_step.py     # -> results/benchmarks/audio_step.json
"""
from __future__ import annotations

import sys

import torch

from common import bench_args, interleaved_times, ratio_table, results_path, write_result
from smlib.audio import AudioConfig, build_audio_run
from smlib.models.factory import count_parameters

CHUNK = 64             # waveforms per network call when sampling (smlib.audio.SampleScorer)
#: name -> (model spec, samples per clip): the preset's WaveNet at 8 kHz, and 1-D U-Nets halving five times to
#: attention over 250 (8 kHz) or 125 (4 kHz) positions, channels growing slowly so the long levels stay cheap
CANDIDATES = {
    "wavenet 8k (small preset)": (None, 8000),
    "unet-16 8k": (dict(arch="unet", model_channels=16, channel_mult=(1, 1, 2, 2, 4, 4), num_blocks=1,
                        attn_resolutions=(250,)), 8000),
    "unet-16 4k": (dict(arch="unet", model_channels=16, channel_mult=(1, 1, 2, 2, 4, 4), num_blocks=1,
                        attn_resolutions=(125,)), 4000),
    "unet-32 4k": (dict(arch="unet", model_channels=32, channel_mult=(1, 1, 2, 2, 4, 4), num_blocks=1,
                        attn_resolutions=(125,)), 4000),
}
PEER = "wavenet 8k (small preset)"


def candidates(cfg: AudioConfig, arm: str, batch: int) -> tuple[dict, dict, dict]:
    """name -> training step, name -> one network call on a sampling chunk, name -> parameter count."""
    g = torch.Generator().manual_seed(0)
    steps, calls, params = {}, {}, {}
    for name, (spec, length) in CANDIDATES.items():
        task = build_audio_run(arm, cfg.replace(model=spec or cfg.model), seed=0, length=length)
        opt = torch.optim.AdamW(task.model.parameters(), lr=1e-4)
        batch_ = (0.1 * torch.randn(batch, 1, length, generator=g), torch.zeros(batch, dtype=torch.long))
        noisy = torch.randn(CHUNK, 1, length, generator=g)

        def step(task=task, opt=opt, batch_=batch_):
            loss, _ = task.loss(batch_, 0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        @torch.no_grad()
        def call(model=task.model, noisy=noisy):
            model(noisy, torch.full((CHUNK,), 0.5))

        steps[name], calls[name], params[name] = step, call, count_parameters(task.model)
    return steps, calls, params


def main() -> None:
    args = bench_args(__doc__, rounds=5)
    if args.device != "cpu":
        sys.exit("bench_audio_step measures the CPU only")
    cfg = AudioConfig.at("small")
    batch = 4 if args.quick else cfg.batch_size
    out = {"benchmark": "audio training step and sampling call, ratio to the small preset's WaveNet",
           "threads": torch.get_num_threads(), "batch": batch, "chunk": CHUNK,
           "candidates": {k: {"model": spec or cfg.model, "length": n} for k, (spec, n) in CANDIDATES.items()}}
    for arm in ("edm", "edm-ap-1"):
        steps, calls, params = candidates(cfg, arm, batch)
        out["params"] = params
        out[f"train_step/{arm}"] = ratio_table(interleaved_times(steps, rounds=args.rounds, repeats=1, warmup=1),
                                               PEER)
        if arm == "edm":
            out["sampling_call"] = ratio_table(interleaved_times(calls, rounds=args.rounds, repeats=1, warmup=1),
                                               PEER)
    for key in [k for k in out if k.startswith(("train_step", "sampling_call"))]:
        for name, row in out[key].items():
            print(f"  {key:22s} {name:26s} {row['median_s']:7.3f} s   x{row['ratio_to_' + PEER]:.2f}"
                  f"   {out['params'][name]:,} parameters")
    path = write_result("audio_step", out, results_path("audio_step", args))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
