"""DiT/SiT and U-ViT: shapes, hidden states, adaLN-Zero init, the null class, guidance, gradients, and a short
overfit run. Tiny configs on CPU."""
import math

import pytest
import torch

from smlib import diffusion as D
from smlib.models.dit import (DIT_SIZES, DiT, build_dit, patchify, sincos_pos_embed_2d, timestep_embedding,
                              unpatchify)
from smlib.models.uvit import build_uvit

SIZE, CH, NCLS = 8, 3, 5
BUILDERS = {"dit": build_dit, "uvit": build_uvit}


def tiny(kind="dit", patch=2, **kw):
    torch.manual_seed(0)
    kw = dict(input_size=SIZE, in_channels=CH, num_classes=NCLS) | kw
    return BUILDERS[kind](f"tiny/{patch}", **kw).eval()  # eval: no random label dropout unless a test asks


def randomize_(model, std=0.05):
    """Move the zero-initialised layers away from zero so that every path carries signal."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(std * torch.randn_like(p))
    return model


def inputs(b=4):
    g = torch.Generator().manual_seed(2)
    return torch.randn(b, CH, SIZE, SIZE, generator=g), torch.rand(b, generator=g), torch.arange(b) % NCLS


# ------------------------------------------------------------------------------------------------- building blocks
def test_patchify_roundtrip_and_layout():
    x = torch.randn(2, 3, 8, 12)
    tokens = patchify(x, 4)
    assert tokens.shape == (2, 6, 48)
    assert torch.equal(unpatchify(tokens, 4, 3, 8, 12), x)
    # token 1 is the patch in grid row 0, column 1; its features are (py, px, c) in that order
    assert torch.equal(tokens[0, 1].view(4, 4, 3), x[0, :, 0:4, 4:8].permute(1, 2, 0))


def test_sincos_pos_embed_formula():
    d, n = 16, 4
    emb = sincos_pos_embed_2d(d, n)
    assert emb.shape == (n * n, d)
    row, col = 2, 3
    omega = [10000 ** (-k / (d // 4)) for k in range(d // 4)]
    ref = ([math.sin(row * w) for w in omega] + [math.cos(row * w) for w in omega]
           + [math.sin(col * w) for w in omega] + [math.cos(col * w) for w in omega])
    assert torch.allclose(emb[row * n + col], torch.tensor(ref), atol=1e-6)
    assert torch.unique(emb, dim=0).shape[0] == n * n  # every position distinct


def test_timestep_embedding_uses_scaled_t():
    t = torch.tensor([0.0, 0.25, 1.0])
    emb = timestep_embedding(1000 * t, 8)
    freqs = torch.tensor([10000 ** (-k / 4) for k in range(4)])
    ref = torch.cat([torch.cos(1000 * t[:, None] * freqs), torch.sin(1000 * t[:, None] * freqs)], dim=1)
    assert torch.allclose(emb, ref, atol=1e-4)


def test_named_configs():
    assert DIT_SIZES["S"] == (384, 12, 6) and DIT_SIZES["B"] == (768, 12, 12)
    m = build_dit("SiT-tiny/4", input_size=8, in_channels=2)
    assert (m.patch_size, m.hidden_size, m.depth, m.num_patches) == (4, 32, 2, 4)
    with pytest.raises(KeyError, match="unknown config"):
        build_dit("Q/2")
    with pytest.raises(ValueError, match="divisible"):
        DiT(input_size=9, patch_size=2)


# ------------------------------------------------------------------------------------------------- forward
@pytest.mark.parametrize("kind", ["dit", "uvit"])
@pytest.mark.parametrize("patch", [2, 4])
def test_shapes_and_hidden_states(kind, patch):
    m = tiny(kind, patch)
    x, t, y = inputs()
    out, hidden = m(x, t, y, return_hidden=True)
    assert out.shape == x.shape
    n_hidden = m.depth if kind == "dit" else m.num_blocks
    assert len(hidden) == n_hidden == (2 if kind == "dit" else 3)
    assert all(h.shape == (4, (SIZE // patch) ** 2, 32) for h in hidden)
    assert torch.equal(m(x, t, y), out)
    # a scalar t is broadcast to the batch; learn_sigma doubles the output channels
    assert torch.equal(m(x, t[:1].squeeze(), y), m(x, t[0].expand(4), y))
    assert tiny(kind, patch, learn_sigma=True)(x, t, y).shape == (4, 2 * CH, SIZE, SIZE)


def test_dit_hidden_state_is_block_output():
    m = randomize_(tiny("dit"))
    x, t, y = inputs()
    _, hidden = m(x, t, y, return_hidden=True)
    h = m.x_embedder(x).flatten(2).transpose(1, 2) + m.pos_embed
    c = m.condition(t, y, 4)
    for k, block in enumerate(m.blocks):
        h = block(h, c)
        assert torch.allclose(hidden[k], h)


def test_block_is_the_adaln_zero_formula_and_the_stream_contiguous():
    """The block is DiT's x + g1 Attn(LN(x)(1 + s1) + b1), then the same with the MLP; and the residual stream is
    contiguous in every block (a channel-strided stream is slower, and the layout must not change the values)."""
    m = randomize_(tiny("dit"))
    x, t, y = inputs()
    _, hidden = m(x, t, y, return_hidden=True)
    assert all(h.is_contiguous() for h in hidden)
    blk, c = m.blocks[0], m.condition(t, y, 4)
    h = m.x_embedder(x).flatten(2).transpose(1, 2) + m.pos_embed
    s1, k1, g1, s2, k2, g2 = (v[:, None] for v in blk.adaLN_modulation(c).chunk(6, dim=1))
    ref = h + g1 * blk.attn(blk.norm1(h) * (1 + k1) + s1)
    ref = ref + g2 * blk.mlp(blk.norm2(ref) * (1 + k2) + s2)
    assert torch.equal(blk(h, c), ref) and torch.equal(hidden[0], ref)


def test_adaln_zero_init_outputs_exactly_zero():
    m = tiny("dit")
    x, t, y = inputs()
    assert torch.count_nonzero(m(x, t, y)) == 0
    _, hidden = m(x, t, y, return_hidden=True)
    tokens = m.x_embedder(x).flatten(2).transpose(1, 2) + m.pos_embed
    assert torch.equal(hidden[-1], tokens)  # every block starts as the identity


@pytest.mark.parametrize("kind", ["dit", "uvit"])
def test_null_class_and_label_dropout(kind):
    m = randomize_(tiny(kind)).eval()
    x, t, y = inputs()
    null = torch.full_like(y, NCLS)
    uncond = m(x, t, None)
    assert torch.allclose(m(x, t, null), uncond)
    assert not torch.allclose(m(x, t, y), uncond)
    drop = torch.tensor([1, 0, 1, 0])
    forced = m(x, t, y, force_drop_ids=drop)
    assert torch.allclose(forced[0::2], uncond[0::2]) and torch.allclose(forced[1::2], m(x, t, y)[1::2])
    m.y_embedder.dropout_prob = 1.0
    assert torch.allclose(m(x, t, y), m(x, t, y))  # eval mode: no dropout, deterministic
    assert not torch.allclose(m(x, t, y), uncond)
    m.train()
    assert torch.allclose(m(x, t, y), uncond)  # training mode with p = 1: every label dropped
    with pytest.raises(ValueError, match="unconditional"):
        tiny(kind, num_classes=0)(x, t, y)


@pytest.mark.parametrize("kind", ["dit", "uvit"])
def test_cfg_combination_equals_manual(kind):
    m = randomize_(tiny(kind)).eval()
    x, t, y = inputs()
    w = 3.0
    cond, uncond = m(x, t, y), m(x, t, torch.full_like(y, NCLS))
    guided = D.guided_output(m, x, t, y, cfg_scale=w)
    assert torch.allclose(guided, uncond + w * (cond - uncond), atol=1e-5)
    assert torch.allclose(D.guided_output(m, x, t, y, cfg_scale=1.0), cond)
    # learned-variance outputs are guided on their prediction half only
    ms = randomize_(tiny(kind, learn_sigma=True)).eval()
    c2, u2 = ms(x, t, y)[:, :CH], ms(x, t, torch.full_like(y, NCLS))[:, :CH]
    assert torch.allclose(D.guided_output(ms, x, t, y, cfg_scale=w), u2 + w * (c2 - u2), atol=1e-5)


@pytest.mark.parametrize("kind", ["dit", "uvit"])
def test_gradients_reach_every_parameter(kind):
    m = randomize_(tiny(kind)).train()
    m.y_embedder.dropout_prob = 0.0
    x, t, y = inputs()
    loss, logs = D.make_formulation("sit").loss(m, x, y, model_kwargs=dict(return_hidden=True),
                                               generator=torch.Generator().manual_seed(0))
    (loss.mean() + logs["hidden"][0].square().mean()).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("kind,formulation", [("dit", "sit"), ("uvit", "ddpm-linear")])
def test_overfits_one_batch(kind, formulation):
    m = tiny(kind, class_dropout_prob=0.0).train()
    f = D.make_formulation(formulation)
    gen = torch.Generator().manual_seed(4)
    x0 = torch.randn(8, CH, SIZE, SIZE, generator=gen)
    y = torch.arange(8) % NCLS
    fixed = dict(t=f.sample_t(8, gen), eps=torch.randn(x0.shape, generator=gen))
    start = f.loss(m, x0, y, **fixed)[0].mean().item()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(30):
        opt.zero_grad()
        f.loss(m, x0, y, **fixed)[0].mean().backward()
        opt.step()
    end = f.loss(m, x0, y, **fixed)[0].mean().item()
    assert end < 0.7 * start, (start, end)


@pytest.mark.parametrize("kind", ["dit", "uvit"])
def test_samplers_run_with_a_real_model(kind):
    m = randomize_(tiny(kind)).train()
    f = D.make_formulation("sit")
    shape = (3, CH, SIZE, SIZE)
    for sampler in ("ddim", "euler", "heun", "euler_maruyama"):
        x, traj = D.sample(m, f, shape, sampler=sampler, steps=3, seed=0, y=[0, 1, 2], cfg_scale=2.0,
                           return_trajectory=True)
        assert x.shape == shape and torch.isfinite(x).all() and traj.x0_hat.shape == (3, *shape)
    assert m.training  # the sampler restored the training mode
    a = D.sample(m, f, shape, steps=3, seed=0, y=1, cfg_scale=2.0, cfg_interval=(0.0, 0.5))
    b = D.sample(m, f, shape, steps=3, seed=0, y=1, cfg_scale=2.0)
    assert not torch.allclose(a, b)  # the guidance interval switches guidance off for t > 0.5
