import json
import math

import numpy as np
import pytest
import torch

from ptrim.models import build, flow, load
from ptrim.models.base import Plan, TrainablePolicy, executed_mask
from ptrim.models.policy import ModelLoadError
from ptrim.models.spec import ModelSpec
from ptrim.models.tokenizer import InstructionTokenizer

# the four families at their paper horizons, and OFT's longer-chunk variant (generality)
FAMILIES = [("pi05", 20), ("oft", 8), ("gr00t", 16), ("openvla", 1), ("oft", 16)]
B, S = 2, 32


def _obs(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "images": {
            c: rng.integers(0, 256, (B, S, S, 3), dtype=np.uint8) for c in ("agentview", "wrist")
        },
        "proprio": rng.normal(size=(B, 8)).astype(np.float32),
        "instruction": ["pick up the alphabet soup and place it in the basket", "open the drawer"],
    }


def _batch(H: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(B, H, dtype=torch.bool)
    mask[1, H // 2 :] = False  # the end of a demo: padded actions carry no loss
    return {
        **_obs(seed),
        "actions": torch.rand(B, H, 7, generator=g) * 2 - 1,
        "action_mask": mask,
        "generator": torch.Generator().manual_seed(seed),
    }


def _gens(seed: int = 0) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed + i) for i in range(B)]


@pytest.fixture(scope="module", params=FAMILIES, ids=[f"{f}-H{h}" for f, h in FAMILIES])
def model(request):
    family, H = request.param
    torch.manual_seed(0)
    return build(family, "micro", H, image_size=S)


def test_micro_builds_small_and_plans_the_horizon(model):
    assert isinstance(model, TrainablePolicy)
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    plan = model.plan(_obs(), sample=False, generator=_gens())
    assert plan.actions.shape == (B, model.plan_horizon, 7) and plan.actions.dtype == np.float32
    assert np.isfinite(plan.actions).all()
    again = model.plan(_obs(), sample=False, generator=_gens())
    np.testing.assert_array_equal(plan.actions, again.actions)
    other = model.plan(_obs(), sample=True, generator=_gens(seed=7))
    assert not np.array_equal(other.actions, plan.actions)


def test_bc_step_lowers_the_loss_on_one_batch(model):
    torch.manual_seed(0)
    m = build(model.spec.family, "micro", model.plan_horizon, image_size=S)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        loss = m.bc_loss(_batch(m.plan_horizon))  # same batch and noise every step
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert math.isfinite(losses[0]) and losses[-1] < losses[0]


def test_padding_carries_no_loss():
    """Regression families: a padded target changes nothing. (Flow families see the whole noisy
    chunk as input, so padding - the demo's last action repeated - is part of the input; their
    loss mask is tested on :func:`flow.matching_loss` below.)"""
    model = build("oft", "micro", 8, image_size=S)
    batch = _batch(8)
    changed = {**batch, "actions": batch["actions"].clone()}
    changed["actions"][1, 4:] = 0.3  # only padded entries differ
    assert torch.equal(model.bc_loss(batch), model.bc_loss(changed))


def test_log_prob_matches_sampling_and_has_gradients(model):
    plan = model.plan(_obs(), sample=True, generator=_gens(3))
    h = min(5, model.plan_horizon)
    recorded = torch.as_tensor(plan.replay["log_prob"][:, :h].sum(1))
    model.zero_grad()
    lp = model.log_prob(_obs(), plan, slice(0, h))
    assert lp.shape == (B,)
    torch.testing.assert_close(lp.detach(), recorded, atol=1e-4, rtol=1e-5)
    lp.sum().backward()
    grads = [p.grad for p in model.trainable_in_rl()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_executed_slice_changes_the_log_prob(model):
    plan = model.plan(_obs(), sample=True, generator=_gens(4))
    H = model.plan_horizon
    with torch.no_grad():
        full = model.log_prob(_obs(), plan, slice(0, H))
        if H > 1:
            part = model.log_prob(_obs(), plan, slice(0, H // 2))
            assert not torch.allclose(full, part)
        # a per-row mask: row 0 executes everything, row 1 nothing
        mask = torch.zeros(B, H, dtype=torch.bool)
        mask[0] = True
        rows = model.log_prob(_obs(), plan, mask)
    assert torch.allclose(rows[0], full[0]) and rows[1] == 0


def test_save_load_round_trip_gives_identical_plans(model, tmp_path):
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
    ]
    loaded = load(tmp_path)
    assert type(loaded) is type(model) and loaded.spec == model.spec
    a = model.plan(_obs(), sample=True, generator=_gens(5))
    b = loaded.plan(_obs(), sample=True, generator=_gens(5))
    np.testing.assert_array_equal(a.actions, b.actions)


def test_loading_weights_under_another_config_fails_clearly(tmp_path):
    build("oft", "micro", 8, image_size=S).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "plan_horizon": 16}))
    with pytest.raises(ModelLoadError, match="config.json does not match model.safetensors"):
        load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "width": 3}))
    with pytest.raises(ModelLoadError, match="unknown model config keys"):
        load(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="missing model.safetensors"):
        load(tmp_path)


def test_rl_parameter_groups_follow_the_paper():
    pi = build("pi05", "micro", 20, image_size=S)
    vlm = {id(p) for p in pi.pi0.model.vlm.parameters()}
    assert vlm and not vlm & {id(p) for p in pi.trainable_in_rl()}  # π0.5: VLM frozen
    gr = build("gr00t", "micro", 16, image_size=S)
    assert {id(p) for p in gr.trainable_in_rl()} == {id(p) for p in gr.head.parameters()}


def test_gr00t_blocks_read_the_vlm_layers_bottom_up():
    from ptrim.models.gr00t import read_layers

    assert read_layers(4, 4) == [0, 1, 2, 3]
    assert read_layers(8, 6) == [1, 2, 3, 5, 6, 7]  # base: the last block reads the last layer
    assert read_layers(2, 4) == [0, 0, 1, 1]
    gr = build("gr00t", "micro", 16, image_size=S).eval()
    batch = gr.encode(_obs())
    hooks = [len(m._forward_hooks) for m in gr.vlm.decoder.layers]
    contexts, mask = gr.vlm_layers(batch)
    assert [len(m._forward_hooks) for m in gr.vlm.decoder.layers] == hooks  # taps removed
    with torch.no_grad():
        embeds, _ = gr.vlm._sequence(batch["px"], batch["ids"], batch["text_mask"], None)
        out = gr.vlm.decoder(
            inputs_embeds=embeds,
            attention_mask=mask,
            position_ids=(mask.cumsum(-1) - 1).clamp_min(0),
            output_hidden_states=True,
        )  # hidden_states: (embeddings, layer 1, ..., layer L - 1, normed layer L)
    last = gr.spec.sizes.layers - 1
    assert len(contexts) == gr.spec.sizes.head_layers and gr.read_layers[-1] == last
    for ctx, layer in zip(contexts, gr.read_layers, strict=True):
        if layer < last:
            torch.testing.assert_close(ctx, out.hidden_states[layer + 1])
        else:  # the raw output of the last layer, before the decoder's final norm
            torch.testing.assert_close(gr.vlm.decoder.norm(ctx), out.last_hidden_state)
    assert not torch.allclose(contexts[0], contexts[-1])


def test_spec_checks_its_values():
    with pytest.raises(ValueError, match="unknown preset"):
        ModelSpec("oft", "huge", 8)
    with pytest.raises(ValueError, match="not divisible"):
        ModelSpec("oft", "micro", 8, image_size=30)
    with pytest.raises(ValueError, match="unknown family"):
        build("diffusion", "micro", 8)


# ------------------------------------------------------------------------------- flow maths
def test_sde_with_zero_noise_is_euler_and_scores_exactly():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(7, 7, generator=g) * 0.3

    def velocity(x, t):
        return x @ W + t

    x0 = torch.randn(3, 5, 7, generator=g)
    ode, _ = flow.sample(velocity, x0, 4)
    sde0, _ = flow.sample(velocity, x0, 4, step_noise=torch.zeros(3, 4, 5, 7), noise_level=0.0)
    torch.testing.assert_close(sde0, ode)
    # Euler by hand
    x = x0
    for t in (1.0, 0.75, 0.5, 0.25):
        x = x - 0.25 * velocity(x, t)
    torch.testing.assert_close(ode[:, -1], x)
    noise = torch.randn(3, 4, 5, 7, generator=g)
    chain, log_p = flow.sample(velocity, x0, 4, step_noise=noise, noise_level=0.7)
    torch.testing.assert_close(flow.chain_log_prob(velocity, chain, 4, 0.7), log_p)


def test_sde_transition_by_hand():
    x, v = torch.tensor([[[1.0]]]), torch.tensor([[[2.0]]])
    mean, std = flow.sde_transition(x, v, t=0.5, steps=4, noise_level=0.5)
    sigma = 0.5 * math.sqrt(0.5 / 0.5)
    expected = 1.0 - 0.25 * 2.0 - sigma**2 * 0.25 / (2 * 0.5) * (1.0 + 0.5 * 2.0)
    assert mean.item() == pytest.approx(expected) and std == pytest.approx(sigma * 0.5)
    # the first step's sigma is capped (t = 1 would divide by zero)
    assert flow.sde_sigma(1.0, 4, 0.5) == pytest.approx(flow.sde_sigma(0.75, 4, 0.5))


def test_gaussian_log_prob_matches_torch():
    x, mu = torch.randn(2, 3, 7), torch.randn(2, 3, 7)
    std = torch.rand(7) + 0.1
    expected = torch.distributions.Normal(mu, std).log_prob(x).sum(-1)
    torch.testing.assert_close(flow.gaussian_log_prob(x, mu, std), expected)


def test_matching_loss_is_zero_for_the_true_velocity_and_ignores_padding():
    a = torch.randn(2, 4, 7)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    gen = torch.Generator().manual_seed(0)

    def exact(x_t, t):  # recover ε from x_t = tε + (1-t)a, then v = ε - a
        return (x_t - (1 - t[:, None, None]) * a) / t[:, None, None] - a

    def wrong_on_padding(x_t, t):
        return exact(x_t, t) + 5.0 * (~mask)[..., None]

    assert flow.matching_loss(exact, a, mask, gen).item() == pytest.approx(0.0, abs=1e-6)
    assert flow.matching_loss(wrong_on_padding, a, mask, gen).item() == pytest.approx(0.0, abs=1e-6)
    assert flow.matching_loss(lambda x, t: exact(x, t) + 1.0, a, mask, gen).item() == pytest.approx(
        1.0
    )


def test_executed_mask_from_slice_and_rows():
    m = executed_mask(slice(1, 3), 2, 4)
    assert m.tolist() == [[False, True, True, False]] * 2
    with pytest.raises(ValueError, match="expected"):
        executed_mask(torch.ones(3, 4, dtype=torch.bool), 2, 4)


def test_tokenizer_round_trip_and_unknown_words(tmp_path):
    tok = InstructionTokenizer.train(["pick up the bowl", "open the drawer"])
    ids, mask = tok(["Pick up the BOWL", "open the spaceship"])
    assert ids.shape == mask.shape == (2, 4)
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert ids[1, 2].item() == 1  # [UNK]
    tok.save(tmp_path)
    again = InstructionTokenizer.load(tmp_path)
    assert torch.equal(again(["pick up the bowl"])[0], tok(["pick up the bowl"])[0])


def test_default_vocabulary_knows_every_benchmarks_instructions():
    """A model's default tokenizer is trained on every benchmark's instructions: no word of a
    LIBERO, Meta-World or ManiSkill task is [UNK], and no two tasks read alike (LIBERO's words
    alone made "open the door" and "open the window" both "open the [UNK]")."""
    from ptrim.envs.maniskill import INSTRUCTIONS as MANISKILL
    from ptrim.envs.metaworld import INSTRUCTIONS as METAWORLD
    from ptrim.models.tokenizer import libero_instructions

    policy = build("oft", "micro", 8, image_size=S)
    texts = sorted({*libero_instructions(), *METAWORLD.values(), *MANISKILL.values()})
    assert len(texts) >= 90  # 40 LIBERO tasks, 50 Meta-World, 4 ManiSkill
    ids, mask = policy.tokenizer(texts, max_length=64)
    assert not ((ids == 1) & (mask == 1)).any()  # [UNK] is id 1
    rows = {tuple(row[m == 1].tolist()) for row, m in zip(ids, mask, strict=True)}
    assert len(rows) == len(texts)


def test_plan_rows_unpack():
    plan = Plan(np.zeros((2, 3, 7), np.float32), {"z": np.ones((2, 3, 7))})
    actions, replay = plan.row(1)
    assert actions.shape == (3, 7) and replay["z"].shape == (3, 7)


def test_block_causal_attention_for_parallel_decoding():
    from ptrim.models.blocks import _block_causal

    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 0, 1, 1, 1]])
    allowed = _block_causal(mask, tail=2)[:, 0]
    assert allowed.shape == (2, 5, 5)
    assert allowed[0, 3, 4] and allowed[0, 4, 3]  # the two action queries see each other
    assert not allowed[0, 2, 3]  # the prefix does not see the queries
    assert allowed[0, 2].tolist() == [True, True, True, False, False]
    assert not allowed[1, :, 1].any()  # a padded key is never attended


def test_openvla_bins_follow_each_dimensions_spread():
    """Tokens are uniform bins over mean ± 2.5 std per dimension: a dimension a hundred times
    narrower than [-1, 1] keeps its resolution, and decoding lands within half a bin."""
    import numpy as np
    import torch

    from ptrim import models
    from ptrim.models.openvla import CLIP_STD

    policy = models.build("openvla", "micro", plan_horizon=1)
    mean = np.array([0.0, 0.1, -0.2, 0.0, 0.0, 0.0, -0.3], np.float32)
    std = np.array([0.3, 0.3, 0.2, 0.01, 0.01, 0.005, 0.95], np.float32)
    stats = {
        "actions": {"mean": mean, "std": std},
        "proprio": {"mean": np.zeros(8, np.float32), "std": np.ones(8, np.float32)},
    }
    policy.normalizer.set_stats(stats)
    rng = np.random.default_rng(0)
    actions = torch.as_tensor(
        mean + std * rng.normal(size=(64, 1, 7)).clip(-2, 2), dtype=torch.float32
    )
    back = policy.to_actions(policy.to_tokens(actions))
    half_bin = torch.as_tensor(std) * CLIP_STD / policy.spec.bins
    assert (back - actions).abs().le(half_bin * 1.001 + 1e-7).all()
    still = policy.to_actions(policy.to_tokens(torch.zeros(1, 1, 7)))  # no rotation
    assert still[0, 0, 3:6].abs().max() < 1e-3


def test_openvla_soft_targets_spread_each_bin_and_zero_sigma_is_plain_cross_entropy():
    """``label_sigma`` (bins): BC targets are a Gaussian around the demonstrated bin, cut at the
    range's ends; 0 is OpenVLA's one-hot cross-entropy, and a vanishing sigma tends to it."""
    import torch.nn.functional as F

    policy = build("openvla", "micro", plan_horizon=1, label_sigma=2.0)
    q = policy.soft_targets(torch.tensor([0, 128, 255]))
    assert q.shape == (3, 256) and torch.allclose(q.sum(-1), torch.ones(3))
    assert q.argmax(-1).tolist() == [0, 128, 255]
    assert torch.isclose(q[1, 130] / q[1, 128], torch.tensor(math.exp(-0.5)))  # 2 bins = 1 std
    assert q[1, 127] == q[1, 129] and q[1, 100] < 1e-20  # symmetric, local
    assert q[0, 0] > q[1, 128]  # cut at the range's end and renormalised

    batch = _batch(1)
    plain = build("openvla", "micro", plan_horizon=1)
    plain.load_state_dict(policy.state_dict())
    tokens = plain.to_tokens(torch.as_tensor(batch["actions"]).float()[:, :1])
    logits = plain.logits(plain.encode(batch), tokens)[:, :-1]
    ce = F.cross_entropy(logits[0], tokens[0])  # the second demo is all padding at H = 1
    assert torch.isclose(plain.bc_loss(batch), ce, atol=1e-5)
    sharp = build("openvla", "micro", plan_horizon=1, label_sigma=1e-3)
    sharp.load_state_dict(policy.state_dict())
    assert torch.isclose(sharp.bc_loss(batch), ce, atol=1e-5)
    soft = policy.bc_loss(batch)
    by_hand = -(policy.soft_targets(tokens[0]) * F.log_softmax(logits[0], -1)).sum(-1).mean()
    assert torch.isclose(soft, by_hand, atol=1e-5) and not torch.isclose(soft, ce, atol=1e-3)
    soft.backward()
    assert policy.lm_head.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="label_sigma must be >= 0"):
        ModelSpec("openvla", "micro", 1, label_sigma=-1.0)


def test_openvla_proprio_token_makes_its_actions_depend_on_proprioception(tmp_path):
    """OpenVLA reads images and instruction alone; ``proprio_token`` adds the proprioception
    token the other families read, before BOS. Sampling, scoring and BC all see it, and a saved
    model keeps it (a file without the option still loads as OpenVLA's layout)."""
    obs, other = _obs(0), _obs(0)
    other["proprio"] = np.asarray(other["proprio"]) + 1.0  # same images and words, other state
    plain = build("openvla", "micro", plan_horizon=1, image_size=S)
    assert plain.proprio_in is None
    a = plain.plan(obs, sample=False, generator=_gens()).actions
    assert np.array_equal(a, plain.plan(other, sample=False, generator=_gens()).actions)

    torch.manual_seed(0)
    policy = build("openvla", "micro", plan_horizon=1, image_size=S, proprio_token=True)
    plan = policy.plan(obs, sample=True, generator=_gens())
    with torch.no_grad():
        lp = policy.log_prob(obs, plan, slice(0, 1))
        moved = policy.log_prob(other, plan, slice(0, 1))
    torch.testing.assert_close(
        lp, torch.as_tensor(plan.replay["log_prob"]).sum(1), atol=1e-4, rtol=1e-5
    )
    assert not torch.allclose(lp, moved, atol=1e-4)
    loss = policy.bc_loss(_batch(1))
    loss.backward()
    assert policy.proprio_in.weight.grad.abs().sum() > 0

    policy.save_pretrained(tmp_path)
    loaded = load(tmp_path)
    assert loaded.spec.proprio_token and loaded.proprio_in is not None
    again = loaded.plan(obs, sample=True, generator=_gens())
    assert np.array_equal(again.replay["tokens"], plan.replay["tokens"])
