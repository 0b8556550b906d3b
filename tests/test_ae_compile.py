"""The autoencoder's training step under ``torch.compile`` and bf16 autocast (on the CPU, where autocast supports
bf16), for every variant of the lab, with the PatchGAN in play as at paper scale (GAN from step 0), at tiny shapes.

Two faults stopped this step on the GPU and are checked here:

* gpu-check's compile probe moved the autoencoder to CUDA and left the discriminator (the task's ``aux_model``,
  which the generator term calls) on the CPU; CUDA autocast does not cast CPU tensors, so its first conv got a bf16
  input with float32 weights: "Input type (c10::BFloat16) and bias type (float) should be the same" (the same
  message as a float32 conv fed bf16 outside autocast, checked below). Fix: :func:`smlib.gpu_check.measure.place_task`
  places every module as ``fit`` does.
* the objective differentiates its own graph before the backward (SD's adaptive GAN weight, VA-VAE's adaptive VF
  weight). With the whole objective compiled, each of those gradients runs a compiled graph's whole backward, and
  AOTAutograd's donated buffers refuse a second backward once the backward is compiled ahead of time (inductor
  does so when shapes turn dynamic). The test reproduces that on the cheap ``aot_eager`` backend by asking for the
  ahead-of-time backward (``force_non_lazy_backward_lowering``); inductor on a CPU takes minutes per variant.
  Fix: only the encoder's and decoder's trunks are compiled (``compile_trunks``; the output convs where the
  adaptive weights are taken stay eager) and the step runs in ``compiled_step_context`` (donated buffers off).
"""
from __future__ import annotations

import math

import pytest
import torch
import torch._functorch.config as functorch_config

from smlib.pipelines.autoencoder_config import list_variants
from smlib.gpu_check import autoencoder_probe, measure

TINY = dict(gan=True, gan_start=0, batch_size=2)


def probe(variant):
    torch.manual_seed(0)
    return autoencoder_probe(variant, "ci", n_batches=1, **TINY)


def loss_on_a_fixed_draw(step, rng_state):
    """(loss, logs) of the step's forward with the global RNG and the transforms' own generators reset."""
    torch.manual_seed(0)
    step.task.recipe.ae_loss.load_rng_state(rng_state)
    with step.context(), torch.autocast("cpu", dtype=torch.bfloat16):
        loss, logs = step.task.loss(step.batch, 1)
    return float(loss.detach()), logs


def test_the_committed_message_is_a_float32_conv_fed_bf16_outside_autocast():
    conv = torch.nn.Conv2d(3, 4, 3)
    with pytest.raises(RuntimeError, match=r"Input type \(c10::BFloat16\) and bias type \(float\)"):
        conv(torch.randn(1, 3, 8, 8, dtype=torch.bfloat16))


def test_the_step_places_the_discriminator_with_the_autoencoder():
    task = probe("esm").task
    measure.place_task(task, torch.device("meta"))
    modules = {"model": task.model, "discriminator": task.aux_model}
    left = {k: sorted({p.device.type for p in m.parameters()} - {"meta"}) for k, m in modules.items()}
    assert left == {"model": [], "discriminator": []}


@pytest.mark.parametrize("variant", list_variants())
def test_compiled_bf16_step_of_every_variant(variant):
    p = probe(variant)
    step = measure.TrainStep(p.task, p.data[:2], torch.device("cpu"), torch.bfloat16)
    assert p.task.aux_model is not None and step.batch.shape == (2, 3, 32, 32)
    state = p.task.recipe.ae_loss.rng_state()
    eager, _ = loss_on_a_fixed_draw(step, state)
    before = [q.detach().clone() for q in step.params]
    undo = measure.compile_task(p.task, backend="aot_eager")
    with functorch_config.patch(force_non_lazy_backward_lowering=True):   # what inductor does under dynamic shapes
        compiled, logs = loss_on_a_fixed_draw(step, state)
        step.step()
    undo()
    assert math.isfinite(compiled) and compiled == pytest.approx(eager, rel=2e-2, abs=1e-3)
    assert "gan_adaptive_weight" in logs or logs.get("gan_skipped") == 1.0   # the GAN term ran (or EQ-VAE's pair
    moved = sum(not torch.equal(a, b.detach()) for a, b in zip(before, step.params))   # was below 32 px)
    assert moved > len(before) // 2, f"{variant}: only {moved} of {len(before)} tensors updated"
