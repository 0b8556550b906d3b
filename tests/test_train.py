"""smlib.train: bit-exact resume, atomic checkpoints, config refusal, schedules, EMA closed form, G/D alternation,
records with provenance, weights_only loading and data sharding (multi-process runs: tests/test_distributed.py)."""
import csv
import json
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from smlib.train import (EMA, ResumableBatchSampler, TrainConfig, fit, init_distributed, load_checkpoint,
                         load_weights, save_checkpoint, update_schedule, warmup_factor)
from smlib.train.checkpoint import config_diff


pytestmark = pytest.mark.usefixtures("one_thread")


# -- tiny tasks --------------------------------------------------------------------------------------------------

def regression_data(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 4, 4, generator=g)
    y = x.mean(dim=(1, 2, 3)).unsqueeze(1).repeat(1, 2) + 0.1 * torch.randn(n, 2, generator=g)
    return x, y


class PairDataset(Dataset):
    """Map-style dataset of (x, y) pairs, batched by a DataLoader inside fit."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def factory_from(x, y, batch=8):
    """epoch -> list of batches, shuffled by a generator seeded with the epoch (deterministic per epoch)."""
    def make(epoch):
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(100 + epoch))
        return [(x[perm[i:i + batch]], y[perm[i:i + batch]]) for i in range(0, len(x) - batch + 1, batch)]
    return make


class NoisyRegression:
    """Conv + BatchNorm + dropout regressor whose loss draws from torch, numpy and Python RNGs."""

    def __init__(self, width=4, init_seed=0, tag="v1"):
        torch.manual_seed(init_seed)
        self.width, self.tag = width, tag
        self.model = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.Tanh(),
                                   nn.Flatten(), nn.Dropout(0.2), nn.Linear(width * 16, 2))
        self.eval_calls = []

    def loss(self, batch, step):
        x, y = batch
        x = x + 0.1 * torch.randn_like(x)
        if random.random() < 0.5:
            x = x.flip(-1)
        scale = float(np.random.uniform(0.8, 1.2))
        loss = F.mse_loss(self.model(x) * scale, y)
        return loss, {"mse": loss.item(), "scale": scale}

    def evaluate(self, model, step):
        self.eval_calls.append((step, model is self.model, model.training, torch.is_grad_enabled()))
        return {"noise_probe": float(torch.randn(()))}  # draws random numbers: must not disturb training

    def config_dict(self):
        return {"model": {"width": self.width}, "data": self.tag}


class TinyGAN:
    """Generator z -> R^2 with a regression term plus a non-saturating GAN term once the discriminator is on;
    records which loss ran at which step."""

    def __init__(self, config, init_seed=0):
        torch.manual_seed(init_seed)
        self.config = config
        self.model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
        self.aux_model = nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
        self.calls = []

    def loss(self, batch, step):
        self.calls.append(("G", step))
        fake = self.model(torch.randn(batch.shape[0], 3))
        loss = F.mse_loss(fake.mean(0), batch.mean(0))
        if self.config.aux_active(step):
            loss = loss + 0.1 * F.softplus(-self.aux_model(fake)).mean()
        return loss, {"g_total": loss.item()}

    def aux_loss(self, batch, step):
        self.calls.append(("D", step))
        with torch.no_grad():
            fake = self.model(torch.randn(batch.shape[0], 3))
        d = F.relu(1 - self.aux_model(batch)).mean() + F.relu(1 + self.aux_model(fake)).mean()
        return d, {"d_loss": d.item()}

    def config_dict(self):
        return {"gan": "tiny"}


def base_config(out_dir, **kw):
    cfg = dict(steps=20, batch_size=8, lr=1e-2, warmup_steps=3, grad_clip=1.0, ema_decay=0.9, ckpt_every=4,
               log_every=2, seed=3, device="cpu", out_dir=str(out_dir))
    cfg.update(kw)
    return TrainConfig(**cfg)


class Crash(RuntimeError):
    pass


def crash_after(k):
    def callback(step, logs):
        if step == k:
            raise Crash(f"simulated crash after step {step}")
    return callback


def disturb_global_rng():
    """What an interrupted process (or anything run in between) may have done to the global RNGs."""
    torch.randn(17)
    random.random()
    np.random.rand(5)


def assert_same(a, b, path="ckpt", skip=("wall_time_s", "train_config")):
    """Recursive bit-exact comparison of two checkpoint trees."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), f"{path} differs"
    elif isinstance(a, dict):
        assert set(a) == set(b), f"{path}: keys {sorted(set(a) ^ set(b))}"
        for k in a:
            if k not in skip:
                assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{path}: lengths"
        for i, (u, v) in enumerate(zip(a, b)):
            assert_same(u, v, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# -- resume --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source", ["tensors", "dataset", "factory"])
@pytest.mark.parametrize("interruption", ["crash", "stop"])
def test_resume_is_bit_exact(tmp_path, source, interruption):
    x, y = regression_data()
    data = {"tensors": (x, y), "dataset": PairDataset(x, y), "factory": factory_from(x, y)}[source]
    full = NoisyRegression()
    r_full = fit(full, base_config(tmp_path / "full"), data, progress=False)
    assert r_full.completed and r_full.step == 20

    part_dir = tmp_path / "part"
    if interruption == "crash":  # dies after step 10; the last checkpoint is step 8 (ckpt_every=4)
        with pytest.raises(Crash):
            fit(NoisyRegression(), base_config(part_dir), data, progress=False, callback=crash_after(10))
        assert load_checkpoint(part_dir / "last.pt")["step"] == 8
    else:  # a planned stop after 8 steps writes a checkpoint and returns
        r = fit(NoisyRegression(), base_config(part_dir), data, progress=False, max_steps_this_call=8)
        assert (r.step, r.completed) == (8, False)
    disturb_global_rng()
    resumed = NoisyRegression(init_seed=99)  # different initial weights: everything must come from the checkpoint
    r_res = fit(resumed, base_config(part_dir), data, progress=False)
    assert r_res.completed and r_res.step == 20 and r_res.resumed_from == 8

    for (k, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k
    # model, EMA, optimiser, RNG states and data position, all bit-exact
    assert_same(load_checkpoint(r_full.checkpoint), load_checkpoint(r_res.checkpoint))
    # the log reads as one unbroken run: rows from after the crash point were dropped and redone once
    loss_rows = lambda p: [(r["step"], r["value"]) for r in read_rows(p) if r["key"] == "loss"]  # noqa: E731
    assert loss_rows(r_full.metrics_csv) == loss_rows(r_res.metrics_csv)
    assert [s for s, _ in loss_rows(r_res.metrics_csv)] == [str(s) for s in range(2, 21, 2)]


def test_gan_resume_is_bit_exact(tmp_path):
    data = torch.randn(40, 2, generator=torch.Generator().manual_seed(1)) * 0.5 + 1.0
    cfg = lambda d: base_config(d, aux_start_step=5, aux_lr=5e-3, steps=16)  # noqa: E731
    full = TinyGAN(cfg(tmp_path / "a"))
    fit(full, full.config, data, progress=False)
    with pytest.raises(Crash):
        t = TinyGAN(cfg(tmp_path / "b"))
        fit(t, t.config, data, progress=False, callback=crash_after(11))
    disturb_global_rng()
    resumed = TinyGAN(cfg(tmp_path / "b"), init_seed=5)
    fit(resumed, resumed.config, data, progress=False)
    for m in ("model", "aux_model"):
        for a, b in zip(getattr(full, m).parameters(), getattr(resumed, m).parameters()):
            assert torch.equal(a, b)
    assert_same(load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(tmp_path / "b" / "last.pt"))


# -- checkpoints -----------------------------------------------------------------------------------------------------

def test_failed_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"step": 1, "w": torch.ones(3)}, path)
    real_save = torch.save

    def dies_midway(obj, f):  # a crash (disk full, kill) halfway through writing
        f.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dies_midway)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"step": 2, "w": torch.zeros(3)}, path)

    def truncates_silently(obj, f):  # a writer that "succeeds" but leaves an incomplete file
        import io
        buf = io.BytesIO()
        real_save(obj, buf)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])

    monkeypatch.setattr(torch, "save", truncates_silently)
    with pytest.raises(Exception):
        save_checkpoint({"step": 3, "w": torch.zeros(3)}, path)
    monkeypatch.setattr(torch, "save", real_save)

    ckpt = load_checkpoint(path)
    assert ckpt["step"] == 1 and torch.equal(ckpt["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary file left behind


def test_failed_save_during_fit_leaves_resumable_checkpoint(tmp_path, monkeypatch):
    x, y = regression_data()
    real_save, calls = torch.save, []

    def fails_second_time(obj, f):
        calls.append(obj["step"])
        if len(calls) == 2:
            f.write(b"garbage")
            raise OSError("killed while saving")
        real_save(obj, f)

    monkeypatch.setattr(torch, "save", fails_second_time)
    with pytest.raises(OSError, match="killed while saving"):
        fit(NoisyRegression(), base_config(tmp_path), (x, y), progress=False)
    monkeypatch.setattr(torch, "save", real_save)
    assert calls == [4, 8] and load_checkpoint(tmp_path / "last.pt")["step"] == 4
    assert fit(NoisyRegression(), base_config(tmp_path), (x, y), progress=False).resumed_from == 4


def test_checkpoint_loads_with_weights_only(tmp_path):
    x, y = regression_data()
    task = NoisyRegression()
    r = fit(task, base_config(tmp_path, steps=6), (x, y), progress=False)
    ckpt = torch.load(r.checkpoint, map_location="cpu", weights_only=True)
    assert ckpt["step"] == 6 and set(ckpt) >= {"model", "ema", "optimizer", "scheduler", "rng", "task_config"}
    fresh = NoisyRegression(init_seed=7).model
    assert load_weights(r.checkpoint, fresh) == "ema"
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, ckpt["ema"]["shadow"][k])
    assert load_weights(r.checkpoint, fresh, use_ema=False) == "model"
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, task.model.state_dict()[k])


def test_refuses_checkpoint_of_another_config(tmp_path):
    x, y = regression_data()
    fit(NoisyRegression(tag="v1"), base_config(tmp_path, steps=4), (x, y), progress=False)
    with pytest.raises(ValueError, match=r"differs in: task\.data\b") as e:
        fit(NoisyRegression(tag="v2"), base_config(tmp_path, steps=8), (x, y), progress=False)
    assert "\n" not in str(e.value) and "resume=False" in str(e.value)
    with pytest.raises(ValueError, match=r"train\.lr"):
        fit(NoisyRegression(), base_config(tmp_path, steps=8, lr=0.5), (x, y), progress=False)
    with pytest.raises(ValueError, match=r"task\.model\.width"):
        fit(NoisyRegression(width=6), base_config(tmp_path, steps=8), (x, y), progress=False)
    # steps and cadences may change: extending a finished run is a resume
    assert fit(NoisyRegression(), base_config(tmp_path, steps=8, log_every=4), (x, y), progress=False).step == 8
    # resume=False starts afresh in the same directory
    assert fit(NoisyRegression(tag="v2"), base_config(tmp_path, steps=4), (x, y), progress=False,
               resume=False).resumed_from is None


def test_config_diff_names_nested_keys():
    assert config_diff({"a": 1, "m": {"w": 2, "d": 3}}, {"a": 1, "m": {"w": 4}, "e": 0}) == ["e", "m.d", "m.w"]


# -- schedules -------------------------------------------------------------------------------------------------------

def test_warmup_then_constant_lr(tmp_path):
    assert [warmup_factor(s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup_factor(0, 0) == 1.0
    x, y = regression_data()
    r = fit(NoisyRegression(), base_config(tmp_path, steps=6, warmup_steps=4, lr=1e-3, log_every=1), (x, y),
            progress=False)
    lrs = [float(row["value"]) for row in read_rows(r.metrics_csv) if row["key"] == "lr"]
    assert lrs == pytest.approx([1e-3 * f for f in (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)], rel=1e-12)


def test_update_schedule_table():
    g_only, g, d, both = (True, False), (True, False), (False, True), (True, True)
    assert [update_schedule(s, False, 0) for s in range(3)] == [g_only] * 3
    assert [update_schedule(s, True, 4) for s in range(8)] == [g_only] * 4 + [g, d, g, d]
    assert [update_schedule(s, True, 3, alternate=False) for s in range(5)] == [g_only] * 3 + [both] * 2


@pytest.mark.parametrize("alternate", [True, False])
def test_gan_alternation_in_fit(tmp_path, alternate):
    cfg = base_config(tmp_path, steps=10, aux_start_step=4, aux_alternate=alternate, ema_decay=None, ckpt_every=None,
                      grad_clip=None)
    task = TinyGAN(cfg)
    snap = lambda m: [p.detach().clone() for p in m.parameters()]  # noqa: E731
    prev = {"G": snap(task.model), "D": snap(task.aux_model)}
    moved = []

    def record(step, logs):
        now = {"G": snap(task.model), "D": snap(task.aux_model)}
        moved.append(tuple(k for k in ("G", "D") if not all(torch.equal(a, b) for a, b in zip(prev[k], now[k]))))
        prev.update(now)

    fit(task, cfg, torch.randn(16, 2), progress=False, callback=record)
    if alternate:  # G alone before step 4; then G on even steps, D on odd steps
        expected = [("G",)] * 4 + [("G",), ("D",)] * 3
        assert task.calls == [("G", s) for s in range(5)] + [(("D", "G")[s % 2 == 0], s) for s in range(5, 10)]
    else:  # both on every step from 4, generator first
        expected = [("G",)] * 4 + [("G", "D")] * 6
        assert task.calls == [("G", s) for s in range(4)] + [c for s in range(4, 10) for c in (("G", s), ("D", s))]
    assert moved == expected


# -- EMA -------------------------------------------------------------------------------------------------------------

def test_ema_closed_form():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).double()
    p0 = [p.detach().clone() for p in model.parameters()]
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
        model[1].running_mean.fill_(2.5)
    p = [q.detach().clone() for q in model.parameters()]
    n = 7
    for _ in range(n):
        ema.update(model)
    for s, a, b in zip(ema.module.parameters(), p, p0):
        torch.testing.assert_close(s, a + 0.9**n * (b - a), rtol=1e-12, atol=1e-12)
    assert torch.equal(ema.module[1].running_mean, model[1].running_mean)  # buffers are copied, not averaged
    assert ema.num_updates == n and not any(q.requires_grad for q in ema.module.parameters())

    other = EMA(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).double(), decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.decay == 0.9 and other.num_updates == n
    target = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).double()
    other.copy_to(target)
    for a, b in zip(target.state_dict().values(), ema.module.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="decay"):
        EMA(model, 1.0)


# -- records ---------------------------------------------------------------------------------------------------------

def test_records_and_evaluation(tmp_path):
    x, y = regression_data()
    task = NoisyRegression()
    r = fit(task, base_config(tmp_path / "eval", steps=8, eval_every=3, log_every=4), (x, y), progress=False)
    # evaluate: every 3 steps and at the end, on the EMA copy, in eval mode, without grad
    assert task.eval_calls == [(3, False, False, False), (6, False, False, False), (8, False, False, False)]
    assert set(r.metrics) == {"noise_probe"} and r.completed

    rows = read_rows(r.metrics_csv)
    assert list(rows[0]) == ["step", "key", "value"]
    keys_at = lambda s: {row["key"] for row in rows if row["step"] == str(s)}  # noqa: E731
    assert {"loss", "grad_norm", "lr", "mse", "scale", "sec_per_step"} <= keys_at(4)
    assert "eval/noise_probe" in keys_at(3) and "eval/noise_probe" in keys_at(8)

    summary = json.loads(r.summary_json.read_text())
    for key in ("config", "final_metrics", "train_logs", "steps", "wall_time_s", "device", "torch_version",
                "git_commit", "git_dirty", "hardware", "cpu", "command", "timestamp_utc"):
        assert key in summary, key
    assert summary["steps"] == 8 and summary["device"] == "cpu" and summary["precision"] == "float32"
    assert summary["config"]["task"] == {"data": "v1", "model": {"width": 4}}
    assert TrainConfig.from_dict(summary["config"]["train"]) == base_config(tmp_path / "eval", steps=8, eval_every=3,
                                                                             log_every=4)

    # evaluation runs on its own RNG streams: the trained weights do not depend on whether or when it ran
    plain = NoisyRegression()
    plain.evaluate = None
    fit(plain, base_config(tmp_path / "plain", steps=8, log_every=4), (x, y), progress=False)
    for a, b in zip(task.model.state_dict().values(), plain.model.state_dict().values()):
        assert torch.equal(a, b)


def test_bad_inputs_fail_clearly(tmp_path):
    x, y = regression_data()
    with pytest.raises(ValueError, match="dataset"):
        fit(NoisyRegression(), base_config(tmp_path), DataLoader(PairDataset(x, y), batch_size=8), progress=False)
    with pytest.raises(ValueError, match="fewer than one batch"):
        fit(NoisyRegression(), base_config(tmp_path, batch_size=64), (x, y), progress=False)
    with pytest.raises(ValueError, match="bf16"):
        fit(NoisyRegression(), base_config(tmp_path, precision="bf16"), (x, y), progress=False)
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=1.5)
    with pytest.raises(FileNotFoundError, match="resume"):
        fit(NoisyRegression(), base_config(tmp_path), (x, y), progress=False, resume=tmp_path / "nope.pt")


# -- data order and distribution -------------------------------------------------------------------------------------

def test_sampler_epochs_shards_and_determinism():
    n, b = 30, 8
    one = ResumableBatchSampler(n, b, seed=5)
    assert one.batches_per_epoch == 3
    epoch0 = torch.cat([one.global_indices(s) for s in range(3)])
    assert len(set(epoch0.tolist())) == 24  # no repeats within an epoch (6 examples dropped)
    assert not torch.equal(one.permutation(0), one.permutation(1))
    assert torch.equal(one.indices(4), ResumableBatchSampler(n, b, seed=5).indices(4))  # pure function of (seed, step)
    shards = [ResumableBatchSampler(n, b, seed=5, rank=r, world_size=4) for r in range(4)]
    for s in range(5):
        parts = [sh.indices(s) for sh in shards]
        assert torch.equal(torch.cat(parts), one.global_indices(s))  # disjoint shards that cover the global batch
    it = iter(ResumableBatchSampler(n, b, seed=5, start_step=4))
    assert next(it) == one.indices(4).tolist() and next(it) == one.indices(5).tolist()
    assert torch.equal(ResumableBatchSampler(n, b, shuffle=False).global_indices(1), torch.arange(8, 16))
    with pytest.raises(ValueError, match="divisible"):
        ResumableBatchSampler(n, 6, world_size=4)


def test_init_distributed_is_noop_without_torchrun(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    info = init_distributed()
    assert (info.rank, info.world_size, info.local_rank, info.is_main, info.enabled) == (0, 1, 0, True, False)


def test_describe_provenance_for_a_reader():
    from smlib.provenance import describe, provenance

    rec = provenance()
    text = describe(rec)
    assert text.count("\n") == 3 and rec["hardware"] in text and rec["command"] in text
    dirty = describe({**rec, "git_commit": "a" * 40, "git_dirty": True})
    assert "commit:   aaaaaaaaaaaa (uncommitted changes)" in dirty


def test_provenance_records_the_command_as_typed_and_no_machine_path():
    """`python -m smlib` leaves /abs/smlib/__main__.py in argv; the record must say what a user types, with paths
    inside the checkout made repo-relative, and no host name."""
    from smlib.provenance import REPO_ROOT, provenance, repo_relative, resolve_repo_path, user_command

    main = str(REPO_ROOT / "smlib" / "__main__.py")
    cmd = user_command([main, "diffusion", "--preset", "small", "--results", str(REPO_ROOT / "results/x.json")])
    assert cmd == "python -m smlib diffusion --preset small --results results/x.json"
    assert user_command([str(REPO_ROOT / "tools/run_notebook.py"), "--out-dir=" + str(REPO_ROOT / "runs")]) == \
        "python tools/run_notebook.py --out-dir=runs"
    assert user_command(["/usr/lib/python3/site-packages/ipykernel_launcher.py", "-f", "/root/k.json"]) == \
        "jupyter kernel"
    assert repo_relative(REPO_ROOT / "runs" / "a" / "last.pt") == "runs/a/last.pt"
    assert repo_relative("/elsewhere/x.pt") == "/elsewhere/x.pt"          # outside the checkout: kept as given
    assert resolve_repo_path("runs/a/last.pt") == REPO_ROOT / "runs" / "a" / "last.pt"
    rec = provenance(command="python -m smlib autoencoder")
    assert rec["command"] == "python -m smlib autoencoder" and "hostname" not in rec
