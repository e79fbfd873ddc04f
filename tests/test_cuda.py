"""The CUDA path: every family plans, scores and trains on a GPU like on the CPU.

Skipped without a CUDA device (CI has none); run on a lent GPU with
``python -m pytest tests/test_cuda.py``. ``PTRIM_TEST_DEVICE=cpu`` runs the same checks
CPU-against-CPU, to test the tests themselves on a machine without a GPU."""

from __future__ import annotations

import copy
import math
import os

import numpy as np
import pytest
import torch
from test_bc import SIZE, bc_config, demo_paths, run  # noqa: F401 (fixture)
from test_models import FAMILIES, S, _batch, _gens, _obs

from ptrim.data import ChunkDataset
from ptrim.models import build, load

DEVICE = os.environ.get("PTRIM_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(
    DEVICE == "cuda" and not torch.cuda.is_available(), reason="no CUDA device"
)
IDS = [f"{f}-H{h}" for f, h in FAMILIES]


@pytest.fixture(autouse=True)
def full_precision_matmuls():
    """TF32 would make GPU and CPU differ by ~1e-3; the comparison is of the code path."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _pair(family: str, H: int):
    torch.manual_seed(0)
    cpu = build(family, "micro", H, image_size=S).eval()
    return cpu, copy.deepcopy(cpu).to(DEVICE)


@pytest.mark.parametrize(("family", "H"), FAMILIES, ids=IDS)
def test_device_plans_match_cpu_for_the_same_noise(family, H):
    """Noise is drawn on the CPU from per-episode generators, so a plan is the same function of
    (weights, observation, seed) on any device."""
    cpu, gpu = _pair(family, H)
    assert next(gpu.parameters()).device.type == torch.device(DEVICE).type
    with torch.no_grad():
        a = cpu.plan(_obs(), sample=True, generator=_gens(3))
        b = gpu.plan(_obs(), sample=True, generator=_gens(3))
    assert isinstance(b.actions, np.ndarray) and b.actions.dtype == np.float32
    np.testing.assert_allclose(b.actions, a.actions, atol=1e-3)
    np.testing.assert_allclose(b.replay["log_prob"], a.replay["log_prob"], atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize(("family", "H"), FAMILIES, ids=IDS)
def test_device_log_prob_matches_sampling_and_backpropagates(family, H):
    _, gpu = _pair(family, H)
    plan = gpu.plan(_obs(), sample=True, generator=_gens(4))
    h = min(5, H)
    lp = gpu.log_prob(_obs(), plan, slice(0, h))
    assert lp.device.type == torch.device(DEVICE).type
    recorded = torch.as_tensor(plan.replay["log_prob"][:, :h].sum(1))
    torch.testing.assert_close(lp.detach().cpu(), recorded, atol=1e-4, rtol=1e-5)
    lp.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in gpu.trainable_in_rl())


@pytest.mark.parametrize(("family", "H"), FAMILIES, ids=IDS)
def test_device_bf16_bc_step_is_finite_and_learns(family, H):
    _, gpu = _pair(family, H)
    gpu.train()
    opt = torch.optim.AdamW(gpu.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        with torch.autocast(torch.device(DEVICE).type, dtype=torch.bfloat16):
            loss = gpu.bc_loss(_batch(H))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]


def test_bc_trainer_on_the_device_saves_weights_the_cpu_loads(demo_paths, tmp_path):  # noqa: F811
    data = ChunkDataset(demo_paths, horizon=4, cameras=("agentview",))
    torch.manual_seed(0)
    policy = build("pi05", "micro", 4, cameras=("agentview",), image_size=SIZE)
    result = run(policy, data, tmp_path, bc_config(steps=4, batch_size=3), device=DEVICE)
    assert result["finished"] and all(math.isfinite(h["loss"]) for h in result["history"])
    on_cpu = load(result["final"])
    assert next(on_cpu.parameters()).device.type == "cpu"
    obs = {
        "images": {"agentview": np.zeros((1, SIZE, SIZE, 3), np.uint8)},
        "proprio": np.zeros((1, 8), np.float32),
        "instruction": ["task 0"],
    }
    plan = on_cpu.plan(obs, sample=False, generator=[torch.Generator().manual_seed(0)])
    assert np.isfinite(plan.actions).all()


@pytest.mark.parametrize("family", ["pi05", "gr00t", "oft", "openvla"])
def test_grpo_on_the_device_trains_only_rl_parameters_and_resumes_bit_exactly(family, tmp_path):
    """Two stage-1 iterations of GRPO on the device (fake reach env, real micro model, KL to
    the base on): the first PPO ratio is 1, only ``trainable_in_rl()`` changes, the final
    weights load on the CPU, and a run stopped after one iteration resumes to the same weights."""
    from fakes import ReachEnv

    from ptrim import config, stages, trainer

    def make(out):
        torch.manual_seed(0)
        policy = build(family, "micro", 8, image_size=16, cameras=("agentview",))
        rl = config.RLConfig(
            group_size=4,
            groups_per_iter=2,
            init_states=3,
            micro_batch=8,
            kl_coef=0.1,
            lr={family: 1e-3},
            checkpoint_every=1,
        )
        curriculum = stages.make_curriculum(rl.stage1, 8, start_h=None, sr_base=0.5)
        stage = stages.Stage1(curriculum, h_base=8, lam_plan=1.0, sr_base=0.5, tolerance=0.05)

        def env(task):
            goals = {0: 0.3, 1: 0.3, 2: 0.3}
            return ReachEnv(
                goals, max_steps=16, task=task, image_size=16, proprio_dim=8, action_dim=7
            )

        run = trainer.GRPOTrainer(
            policy, stage, rl, family=family, tasks=["a", "b"], env_factory=env,
            iterations=2, out_dir=out, seed=0, device=DEVICE, num_envs=4, progress=False,
        )  # fmt: skip
        return policy, run

    policy, run = make(tmp_path / "a")
    before = {k: v.detach().cpu().clone() for k, v in policy.state_dict().items()}
    trainable = {
        n for n, p in policy.named_parameters() if any(p is q for q in policy.trainable_in_rl())
    }
    result = run.run()
    after = {k: v.detach().cpu() for k, v in policy.state_dict().items()}
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert next(policy.parameters()).device.type == torch.device(DEVICE).type
    assert changed and changed <= trainable
    assert abs(result["history"][0]["train/ratio_mean"] - 1) < 1e-2
    on_cpu = load(result["final"])
    assert all(torch.equal(on_cpu.state_dict()[k], after[k]) for k in after)
    _, stopped = make(tmp_path / "b")
    stopped.run(max_iterations_this_run=1)
    resumed, again = make(tmp_path / "b")
    assert again.run()["resumed_from"] == 1
    assert all(torch.equal(resumed.state_dict()[k].cpu(), after[k]) for k in after)
