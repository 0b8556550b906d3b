"""What happens at each step: the warm-up LR factor and which optimiser(s) step (the G/D alternation).

Both are pure functions of the 0-based step, so a resumed run needs no scheduler state beyond the step counter.
"""
from __future__ import annotations


def warmup_factor(step: int, warmup_steps: int) -> float:
    """LR multiplier at 0-based ``step``: linear warm-up ``(step + 1) / warmup_steps``, then 1.

    (U-ViT/DCTdiff use ``step / warmup`` from step 0, which spends the first step at LR 0; ours reaches the same
    constant LR one step earlier.)
    """
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, (step + 1) / warmup_steps)


def update_schedule(step: int, has_aux: bool, aux_start_step: int = 0, alternate: bool = True) -> tuple[bool, bool]:
    """(update the main model, update the auxiliary model) at 0-based ``step``.

    Before ``aux_start_step`` (or without an auxiliary model) only the main model steps. After it, with
    ``alternate`` (the Spectrum Matching AE recipe) the generator steps on even steps and the discriminator on odd
    steps, so each gets half the updates; without, both step every step.
    """
    if not has_aux or step < aux_start_step:
        return True, False
    if alternate:
        return step % 2 == 0, step % 2 == 1
    return True, True


__all__ = ["warmup_factor", "update_schedule"]
