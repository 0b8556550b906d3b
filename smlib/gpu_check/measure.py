"""How close a training step comes to the chip: the step itself (eager or under ``torch.compile``), its model FLOPs
counted with torch's FLOP counter, the chip's matmul rate measured in the same run, the share of it a step achieves,
peak memory, and where a step's time goes.

    step = TrainStep(probe.task, host_batch, device, torch.bfloat16)
    flops = count_flops(step)                          # forward + backward FLOPs of one step (FlopCounterMode)
    peak = matmul_peak(device)                         # TFLOP/s of a large matmul, this run, this chip
    efficiency(flops, seconds_per_step, peak)          # achieved TFLOP/s and its share of the peak
    time_split(step)                                   # data / forward / backward / optimizer; attention, matmul,
                                                       # optimizer kernels; launch overhead (device idle time)

FLOPs are the counter's: matmuls, convolutions and attention (``torch.utils.flop_counter``), forward and backward,
nothing assumed; element-wise work and the optimiser count zero, so the share of the matmul peak is the share of the
chip's dense rate the step turns into model arithmetic.
"""
from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext

import torch

STEP_PARTS = ("data", "forward", "backward", "optimizer")
#: kernel / op name fragments (lower case) by category, for :func:`time_split`
KERNEL_CATEGORIES = {
    "attention": ("attention", "flash", "fmha", "sdpa", "softmax"),
    "matmul": ("gemm", "matmul", "aten::mm", "aten::addmm", "aten::bmm", "aten::linear", "sm90", "sm80", "nvjet", "cutlass",
               "cublas", "conv", "mkldnn"),
    "optimizer": ("adam", "multi_tensor", "foreach", "lerp", "addcdiv", "addcmul"),
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _to_device(batch, device: torch.device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    return type(batch)(_to_device(t, device) for t in batch)


def place_task(task, device: torch.device) -> None:
    """Every module a task's step touches on ``device``, as :func:`smlib.train.fit` places them: the trained model,
    the auxiliary model (a GAN's discriminator, which the autoencoder's generator term calls) and the task's frozen
    helpers (``task.setup``)."""
    task.model.to(device)
    if getattr(task, "aux_model", None) is not None:
        task.aux_model.to(device)
    if callable(getattr(task, "setup", None)):
        task.setup(device)


def compile_task(task, **compile_kwargs) -> Callable[[], None]:
    """``torch.compile`` the networks a task's step spends its time in; returns the undo.

    Autoencoders: the encoder's and decoder's trunks (:func:`smlib.models.autoencoder.compile_trunks`, which says why
    not the output convs or the objective). Diffusion tasks: the backbone the formulation calls (``task.model``, or
    its ``backbone`` under REPA's alignment wrapper), in place, so that every call site uses it."""
    recipe = getattr(task, "recipe", None)
    if recipe is not None:
        from smlib.models.autoencoder import compile_trunks
        return compile_trunks(recipe.model, **compile_kwargs)
    net = getattr(task.model, "backbone", task.model)
    net.compile(**compile_kwargs)

    def undo() -> None:
        net._compiled_call_impl = None
    return undo


class TrainStep:
    """One optimiser step of ``task`` on one batch, as :func:`smlib.train.fit` takes it: the loss under autocast
    (``amp``: bf16, or None for float32), backward, gradient clipping at 1, AdamW; ``step()`` runs it whole, the
    ``data``/``forward``/``backward``/``optimizer`` methods run its parts.

    host_batch: a tensor or tuple of tensors on the CPU; ``data()`` copies it to ``device`` (what a loader's
    batch costs once it is in memory). An autoencoder step runs inside
    :func:`smlib.regularizers.aeloss.compiled_step_context` (its adaptive weights differentiate the graph twice)."""

    def __init__(self, task, host_batch, device: torch.device, amp: torch.dtype | None):
        from smlib.regularizers.aeloss import compiled_step_context

        place_task(task, device)
        self.task, self.host_batch, self.device, self.amp = task, host_batch, device, amp
        self.params = [p for p in task.model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=1e-5)
        self.context = compiled_step_context if getattr(task, "recipe", None) is not None else nullcontext
        self.batch = self.data()

    def data(self):
        return _to_device(self.host_batch, self.device)

    def forward(self) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
            return self.task.loss(self.batch, 1)[0]

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def optimizer(self) -> None:
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)

    def step(self) -> None:
        with self.context():
            self.backward(self.forward())
            self.optimizer()

    def timed(self, n: int) -> list[float]:
        """Seconds of each of ``n`` whole steps (device synchronised)."""
        out = []
        for _ in range(n):
            sync(self.device)
            t0 = time.perf_counter()
            self.step()
            sync(self.device)
            out.append(time.perf_counter() - t0)
        return out


# ------------------------------------------------------------------------------------------------ arithmetic
def count_flops(step: TrainStep) -> dict:
    """Model FLOPs of one step (forward + backward) by ``torch.utils.flop_counter.FlopCounterMode``: the total and
    the part in attention (scaled dot-product attention ops)."""
    from torch.utils import flop_counter

    def raw(formula):   # torch's registered formulas already take the raw arguments (they map them to shapes)
        def call(*args, **kwargs):
            return formula(*args, **kwargs)
        call._get_raw = True
        return call

    aten = torch.ops.aten
    # the CPU's flash attention is not in torch's table: the same formulas as its CUDA kernels
    cpu_attention = {aten._scaled_dot_product_flash_attention_for_cpu: raw(flop_counter.sdpa_flop),
                     aten._scaled_dot_product_flash_attention_for_cpu_backward: raw(flop_counter.sdpa_backward_flop)}
    counter = flop_counter.FlopCounterMode(display=False, custom_mapping=cpu_attention)
    with counter:
        step.step()
    by_op = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    attention = sum(n for op, n in by_op.items() if "attention" in op)
    return {"flops_per_step": int(counter.get_total_flops()), "attention_flops_per_step": attention,
            "counted_by": "torch.utils.flop_counter.FlopCounterMode (matmul, conv, attention; forward + backward)"}


def matmul_peak(device: torch.device, reps: int = 10) -> dict:
    """The chip's dense rate measured now: median TFLOP/s of an n x n matmul (bf16 n = 8192 on CUDA; float32
    n = 1024 on a CPU, where bf16 is not the fast path), labelled with what was measured."""
    cuda = device.type == "cuda"
    n, dtype = (8192, torch.bfloat16) if cuda else (1024, torch.float32)
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    times = []
    for i in range(reps + 2):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    kind = f"{torch.cuda.get_device_name(device)} bf16" if cuda else "CPU float32"
    return {"tflops": 2 * n**3 / sec / 1e12, "n": n, "dtype": str(dtype).removeprefix("torch."),
            "label": f"{kind} matmul {n}x{n}, median of {reps}, measured in this run"}


def efficiency(flops_per_step: int, sec_per_step: float, peak: dict) -> dict:
    """Achieved TFLOP/s of a step and its share of the measured matmul peak."""
    achieved = flops_per_step / sec_per_step / 1e12
    return {"achieved_tflops": achieved, "share_of_peak": achieved / peak["tflops"]}


def peak_memory(device: torch.device) -> dict:
    """Peak memory since the last :func:`reset_peak_memory`: CUDA ``max_memory_allocated`` (GiB), or on a CPU the
    process's peak resident set (GiB, since it started: an upper bound, labelled)."""
    if device.type == "cuda":
        return {"peak_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2),
                "peak_memory_kind": "torch.cuda.max_memory_allocated"}
    return {"peak_memory_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            "peak_memory_kind": "CPU: peak resident set of the process so far"}


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        # a fresh torchrun rank has no CUDA allocator yet: resetting its statistics then fails with "Invalid
        torch.zeros(1, device=device)   # device argument" (seen on an H200, torch 2.11); one allocation creates it
        torch.cuda.reset_peak_memory_stats(device)


# ------------------------------------------------------------------------------------------------ where time goes
def _category(name: str) -> str:
    low = name.lower()
    for cat, keys in KERNEL_CATEGORIES.items():
        if any(k in low for k in keys):
            return cat
    return "other"


def time_split(step: TrainStep, steps: int = 5) -> dict:
    """Where a step's time goes, measured two ways.

    ``parts``: median seconds of each part (data copy, forward, backward, optimizer incl. clipping), each timed
    with the device synchronised around it. ``kernels``: one ``torch.profiler`` run over ``steps`` whole steps;
    device time (CUDA kernels; on a CPU, the aten ops' own time) per category (attention, matmul, optimizer, other)
    per step, and ``launch_overhead_s``: the step's wall time minus the device's busy time (the device idle, waiting
    for the host to launch work; on a CPU there is no separate device, so None)."""
    from torch.profiler import ProfilerActivity, profile

    parts = {p: [] for p in STEP_PARTS}
    for _ in range(steps):
        with step.context():
            for part in STEP_PARTS:
                sync(step.device)
                t0 = time.perf_counter()
                if part == "data":
                    step.batch = step.data()
                elif part == "forward":
                    loss = step.forward()
                elif part == "backward":
                    step.backward(loss)
                else:
                    step.optimizer()
                sync(step.device)
                parts[part].append(time.perf_counter() - t0)
    cuda = step.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        sync(step.device)
        t0 = time.perf_counter()
        for _ in range(steps):
            step.step()
        sync(step.device)
        wall = (time.perf_counter() - t0) / steps
    busy = dict.fromkeys((*KERNEL_CATEGORIES, "other"), 0.0)
    for evt in prof.key_averages():
        if cuda:
            t = evt.self_device_time_total
        else:
            t = evt.self_cpu_time_total if evt.key.startswith("aten::") else 0.0
        busy[_category(evt.key)] += t / 1e6 / steps
    total = sum(busy.values())
    return {"parts_s": {p: statistics.median(v) for p, v in parts.items()}, "profiled_step_s": wall,
            "kernels_s": busy, "device_busy_s": total,
            "launch_overhead_s": max(0.0, wall - total) if cuda else None,
            "method": "parts: synchronised sub-steps (median); kernels: torch.profiler "
                      + ("CUDA kernel time" if cuda else "aten op self CPU time") + f" over {steps} steps"}


def limits(split: dict, share_of_peak: float | None) -> list[str]:
    """What limits a step, from :func:`time_split`: the categories by their share of the profiled step, largest
    first, one line each (the reading of the record, computed; no threshold is assumed)."""
    wall = split["profiled_step_s"]
    shares = dict(split["kernels_s"])
    if split["launch_overhead_s"] is not None:
        shares["launch overhead (device idle)"] = split["launch_overhead_s"]
    lines = [f"{k}: {v / wall:.0%} of the step" for k, v in sorted(shares.items(), key=lambda kv: -kv[1])]
    parts = split["parts_s"]
    total = sum(parts.values())
    lines.append("parts: " + ", ".join(f"{p} {1e3 * parts[p]:.1f} ms ({parts[p] / total:.0%})" for p in STEP_PARTS))
    if share_of_peak is not None:
        lines.insert(0, f"model FLOP/s at {share_of_peak:.0%} of the measured matmul peak")
    return lines


__all__ = ["TrainStep", "place_task", "compile_task", "count_flops", "matmul_peak", "efficiency", "peak_memory",
           "reset_peak_memory", "time_split", "limits", "sync", "STEP_PARTS", "KERNEL_CATEGORIES"]
