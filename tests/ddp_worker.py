"""One rank of the multi-process training checks in tests/test_distributed.py (not collected by pytest: no test_
prefix). Run as ``python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddp_worker.py OUT``.

Every scenario runs in this one process group (a torchrun start costs seconds on 2 cores); each rank saves its
final weights to OUT/results/<scenario>.rank<r>.pt for the test to compare. Runs write only under their out_dir;
rank r works in OUT/cwd<r>, so that anything a rank wrote by a relative path would show there.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from smlib.train import TrainConfig, destroy_distributed, fit, init_distributed

# -- tasks (also imported by the test for its 1-process references) ---------------------------------------------


def regression_data(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 4, 4, generator=g)
    y = x.mean(dim=(1, 2, 3)).unsqueeze(1).repeat(1, 2) + 0.1 * torch.randn(n, 2, generator=g)
    return x, y


class Regression:
    """No noise, no dropout, no BatchNorm, a per-example mean loss: the rank-averaged gradient of two half batches
    is the full batch's. ``init_seed``: the workers give each rank its own, so only rank 0's weights broadcast at
    the start make the runs agree; ``evaluated`` keeps the weights ``evaluate`` last saw (the EMA's)."""

    def __init__(self, init_seed=0):
        torch.manual_seed(init_seed)
        self.model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 2))
        self.evaluated = None

    def evaluate(self, model, step):
        self.evaluated = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return {}

    def loss(self, batch, step):
        x, y = batch
        loss = F.mse_loss(self.model(x), y)
        return loss, {"mse": loss.item()}

    def config_dict(self):
        return {"task": "regression"}


class NoisyRegression(Regression):
    """BatchNorm, dropout and input noise: each rank draws its own noise, so only a 2-process run can match it."""

    def __init__(self):
        torch.manual_seed(0)
        self.evaluated = None
        self.model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Tanh(), nn.Flatten(),
                                   nn.Dropout(0.2), nn.Linear(64, 2))

    def loss(self, batch, step):
        x, y = batch
        loss = F.mse_loss(self.model(x + 0.1 * torch.randn_like(x)), y)
        return loss, {"mse": loss.item()}

    def config_dict(self):
        return {"task": "noisy"}


def gan_data(n=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=g)  # columns: z (3), a real sample (2)


class StepVaryingGAN:
    """A generator and a discriminator whose graphs change with the step: the adversarial term and the generator's
    ``late`` head join at ``aux_start_step``; ``never`` gets no gradient on any rank (with weight decay, a zero
    gradient in its place would move it). Deterministic given the batch, with per-example mean losses."""

    def __init__(self, config: TrainConfig, init_seed=0):
        torch.manual_seed(init_seed)
        self.config = config
        self.model = nn.ModuleDict({"body": nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)),
                                    "late": nn.Linear(2, 2), "never": nn.Linear(2, 2)})
        self.aux_model = nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))

    def fake(self, batch, step):
        out = self.model["body"](batch[:, :3])
        return out + 0.1 * self.model["late"](out) if self.config.aux_active(step) else out

    def loss(self, batch, step):
        fake = self.fake(batch, step)
        loss = F.mse_loss(fake, batch[:, 3:])
        if self.config.aux_active(step):
            loss = loss + 0.1 * F.softplus(-self.aux_model(fake)).mean()
        return loss, {"g": loss.item()}

    def aux_loss(self, batch, step):
        with torch.no_grad():
            fake = self.fake(batch, step)
        d = F.relu(1 - self.aux_model(batch[:, 3:])).mean() + F.relu(1 + self.aux_model(fake)).mean()
        return d, {"d": d.item()}

    def config_dict(self):
        return {"task": "gan"}


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.lin = nn.Linear(width, width)

    def forward(self, h):
        return h + torch.tanh(self.lin(h))


class BlockNet(nn.Module):
    """Linear in, a ModuleList of residual blocks (FSDP units), linear out; ``encode`` is a method, not forward."""

    def __init__(self, width=8):
        super().__init__()
        self.inp = nn.Linear(16, width)
        self.blocks = nn.ModuleList([Block(width) for _ in range(2)])
        self.out = nn.Linear(width, 2)

    def encode(self, x):
        h = torch.tanh(self.inp(x.flatten(1)))
        for block in self.blocks:
            h = block(h)
        return h

    def forward(self, x):
        return self.out(self.encode(x))


class BlockRegression(Regression):
    """:class:`Regression` on a :class:`BlockNet`, calling its methods in the loss; evaluation runs the model."""

    def __init__(self, init_seed=0):
        torch.manual_seed(init_seed)
        self.model = BlockNet()
        self.probe = torch.randn(4, 1, 4, 4, generator=torch.Generator().manual_seed(5))

    def loss(self, batch, step):
        x, y = batch
        loss = F.mse_loss(self.model.out(self.model.encode(x)), y)
        return loss, {"mse": loss.item()}

    def evaluate(self, model, step):
        return {"probe": float(model(self.probe).pow(2).mean())}

    def config_dict(self):
        return {"task": "blocks"}


def config(out_dir, **kw) -> TrainConfig:
    cfg = dict(steps=6, batch_size=8, lr=1e-2, warmup_steps=2, grad_clip=1.0, ema_decay=0.9, ckpt_every=3,
               log_every=1, seed=3, device="cpu", out_dir=str(out_dir))
    cfg.update(kw)
    return TrainConfig(**cfg)


def gan_config(out_dir, alternate: bool) -> TrainConfig:
    return config(out_dir, steps=8, aux_start_step=2, aux_alternate=alternate, weight_decay=0.1, ema_decay=None,
                  ckpt_every=None)


class Crash(RuntimeError):
    pass


def crash_after(k):
    def callback(step, logs):
        if step == k:
            raise Crash(f"planned crash after step {step}")
    return callback


# -- the scenarios ---------------------------------------------------------------------------------------------------

def main(out: Path) -> None:
    info = init_distributed()
    torch.set_num_threads(1)
    results = out / "results"
    cwd = out / f"cwd{info.rank}"
    for d in (results, cwd):
        d.mkdir(parents=True, exist_ok=True)
    os.chdir(cwd)

    def keep(name, module):
        torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()},
                   results / f"{name}.rank{info.rank}.pt")

    # (a, c) global batch 8 = 4 per rank; each rank gets its own out_dir: rank 1's must stay absent
    task = Regression(init_seed=info.rank)
    fit(task, config(out / "ddp" / f"rank{info.rank}"), regression_data(), progress=False)
    keep("ddp", task.model)
    torch.save(task.evaluated, results / f"ddp_ema.rank{info.rank}.pt")

    # (b) crash after step 5, resume from the step-3 checkpoint; against an unbroken run
    fit(NoisyRegression(), config(out / "noisy_full", steps=8), regression_data(), progress=False)
    try:
        fit(NoisyRegression(), config(out / "noisy_resumed", steps=8), regression_data(), progress=False,
            callback=crash_after(5))
    except Crash:
        pass
    fit(NoisyRegression(), config(out / "noisy_resumed", steps=8), regression_data(), progress=False)

    # (d) a step-varying graph, G/D alternating and G-then-D on the same step
    for alternate in (True, False):
        name = f"gan_{'alt' if alternate else 'both'}"
        cfg = gan_config(out / name, alternate)
        task = StepVaryingGAN(cfg, init_seed=info.rank)
        fit(task, cfg, gan_data(), progress=False)
        keep(name + "_g", task.model)
        keep(name + "_d", task.aux_model)

    # FSDP: unbroken, and stopped at step 3 then resumed
    fit(BlockRegression(init_seed=info.rank), config(out / "fsdp_full", parallel="fsdp", eval_every=3),
        regression_data(), progress=False)
    for _ in range(2):
        fit(BlockRegression(), config(out / "fsdp_resumed", parallel="fsdp", eval_every=3), regression_data(),
            progress=False, max_steps_this_call=3)
    destroy_distributed()


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
