"""Behaviour cloning: lr schedule, sample order, learning, bit-exact resume, safe checkpoints."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ptrim import bc
from ptrim.config import BCConfig
from ptrim.data import ChunkDataset, Demo, write_demo_file
from ptrim.models.tokenizer import InstructionTokenizer

SIZE, HORIZON = 8, 4
ENV_ARGS = {"env_name": "Libero_Tabletop_Manipulation", "type": 1, "env_kwargs": {}}


pytestmark = pytest.mark.usefixtures("one_thread")


def bc_config(**changes) -> BCConfig:
    values = dict(
        steps=8,
        batch_size=4,
        lr=3e-3,
        weight_decay=0.01,
        warmup_steps=2,
        min_lr_ratio=0.1,
        grad_clip=1.0,
        precision="fp32",
        checkpoint_every=3,
        log_every=2,
        demos_per_task=2,
        eval_init_states=1,
        num_workers=0,
    )
    return BCConfig(**(values | changes))


class TinyPolicy(nn.Module):
    """A stand-in policy: conv features of the agent view + proprio -> an [H, 7] action chunk.

    ``bc_loss`` draws from the global torch RNG (dropout and additive noise, like a flow
    policy's sampled noise), so resume is only exact if the trainer seeds it per step."""

    def __init__(self, horizon: int = HORIZON, hidden: int = 16, dropout: float = 0.1):
        super().__init__()
        self.config = {"horizon": horizon, "hidden": hidden, "dropout": dropout}
        self.conv = nn.Conv2d(3, 4, kernel_size=3, stride=2)
        self.norm = nn.LayerNorm(4 + 8)
        self.head = nn.Sequential(
            nn.Linear(12, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, horizon * 7)
        )

    def forward(self, image: torch.Tensor, proprio: torch.Tensor) -> torch.Tensor:
        """uint8 [B, S, S, 3], float [B, 8] -> float [B, H, 7]."""
        x = image.permute(0, 3, 1, 2).float() / 255.0
        features = torch.cat([self.conv(x).mean((2, 3)), proprio], dim=1)
        return self.head(self.norm(features)).view(-1, self.config["horizon"], 7)

    def bc_loss(self, batch: dict) -> torch.Tensor:
        """Masked L1 between the predicted chunk (plus a little noise) and the demo chunk."""
        device = self.conv.weight.device
        pred = self(batch["images"]["agentview"].to(device), batch["proprio"].to(device))
        pred = pred + 0.01 * torch.randn_like(pred)
        error = (pred.float() - batch["actions"].to(device)).abs().mean(-1)  # [B, H]
        mask = batch["action_mask"].to(device).float()
        return (error * mask).sum() / mask.sum().clamp(min=1.0)

    def save_pretrained(self, directory) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file(
            {k: v.contiguous() for k, v in self.state_dict().items()},
            directory / "model.safetensors",
        )
        (directory / "config.json").write_text(json.dumps(self.config))

    @classmethod
    def from_pretrained(cls, directory) -> TinyPolicy:
        directory = Path(directory)
        policy = cls(**json.loads((directory / "config.json").read_text()))
        policy.load_state_dict(load_file(directory / "model.safetensors"))
        return policy


def make_demo(length: int, seed: int) -> Demo:
    """A demo whose whole action chunk follows from its proprio (learnable): a per-demo pose
    ``v`` (ee_pos, ee_ori) held still, the time in the gripper slots, ``a_t = tanh(v W + t/3)``."""
    rng = np.random.default_rng(seed)
    pose = np.repeat(rng.normal(size=(1, 6)), length, axis=0)
    time = np.arange(length)[:, None] / 3.0
    weights = np.random.default_rng(99).normal(size=(6, 7)) / 2
    frames = rng.integers(0, 256, (length, SIZE, SIZE, 3), dtype=np.uint8)
    ee_pos, ee_ori, gripper = pose[:, :3], pose[:, 3:], np.repeat(time, 2, axis=1)
    return Demo(
        actions=np.tanh(pose @ weights + time),
        states=np.zeros((length, 4)),
        robot_states=np.zeros((length, 9)),
        rewards=np.zeros(length, dtype=np.uint8),
        dones=np.zeros(length, dtype=np.uint8),
        obs={
            "agentview_rgb": frames,
            "eye_in_hand_rgb": frames,
            "ee_pos": ee_pos,
            "ee_ori": ee_ori,
            "gripper_states": gripper,
        },
        init_state=np.zeros(4),
    )


@pytest.fixture(scope="module")
def demo_paths(tmp_path_factory) -> list[Path]:
    """Two tasks (files): three demos of 5, 6, 7 steps, and two of 4 steps."""
    root = tmp_path_factory.mktemp("demos")
    paths = []
    for task, lengths in enumerate([(5, 6, 7), (4, 4)]):
        demos = [make_demo(n, 10 * task + i) for i, n in enumerate(lengths)]
        info = {"problem_name": "p", "domain_name": "d", "language_instruction": f"task {task}"}
        paths.append(
            write_demo_file(root / f"task{task}.hdf5", demos, problem_info=info, env_args=ENV_ARGS)
        )
    return paths


@pytest.fixture(scope="module")
def dataset(demo_paths) -> ChunkDataset:
    return ChunkDataset(demo_paths, horizon=HORIZON, cameras=("agentview",))


def fresh_policy(init_seed: int = 0) -> TinyPolicy:
    torch.manual_seed(init_seed)
    return TinyPolicy()


def run(policy, dataset, out_dir, cfg=None, **kwargs):
    return bc.train(policy, dataset, cfg or bc_config(), out_dir, seed=7, progress=False, **kwargs)


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def assert_same_checkpoint(a: Path, b: Path) -> None:
    """Weights, optimizer tensors and JSON state equal, bit for bit (wall time aside)."""
    for name in ("model.safetensors", bc.OPTIMIZER_TENSORS, bc.RNG_TENSORS):
        assert_same_tensors(load_file(a / name), load_file(b / name))
    assert json.loads((a / bc.OPTIMIZER_JSON).read_text()) == json.loads(
        (b / bc.OPTIMIZER_JSON).read_text()
    )
    state_a, state_b = (json.loads((d / bc.TRAINER_STATE).read_text()) for d in (a, b))
    for state in (state_a, state_b):
        state.pop("wall_s")
        for entry in state["history"]:
            entry.pop("wall_s")
    assert state_a == state_b


# ---------------------------------------------------------------------------- schedule, optimizer
def test_lr_schedule_hand_computed():
    cfg = bc_config(steps=11, warmup_steps=4, lr=1e-3, min_lr_ratio=0.1)
    expected = {
        0: 1e-3 * 1 / 5,  # warm-up: lr * (step + 1) / (W + 1)
        3: 1e-3 * 4 / 5,
        4: 1e-3,  # end of warm-up: the peak
        7: 1e-3 * (0.1 + 0.9 * 0.5),  # half-way through the 6-step cosine: cos(pi/2) = 0
        10: 1e-4,  # the last step: lr * min_lr_ratio
        12: 1e-4,  # past the end it stays there
    }
    for step, lr in expected.items():
        assert bc.lr_at(step, cfg) == pytest.approx(lr, rel=1e-12), step
    quarter = 1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 3)))  # step 6: 2/6 of the cosine
    assert bc.lr_at(6, cfg) == pytest.approx(quarter, rel=1e-12)
    no_warmup = bc_config(steps=5, warmup_steps=0, lr=2e-3, min_lr_ratio=0.0)
    assert [bc.lr_at(s, no_warmup) for s in (0, 2, 4)] == pytest.approx(
        [2e-3, 1e-3, 0.0], abs=1e-15
    )


def test_no_weight_decay_on_biases_and_norms():
    policy = TinyPolicy()
    policy.conv.bias.requires_grad_(False)
    optimizer = bc.make_optimizer(policy, bc_config(weight_decay=0.05))
    decay, no_decay = optimizer.param_groups
    names = {id(p): n for n, p in policy.named_parameters()}
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert sorted(names[id(p)] for p in decay["params"]) == [
        "conv.weight",
        "head.0.weight",
        "head.3.weight",
    ]
    assert sorted(names[id(p)] for p in no_decay["params"]) == [
        "head.0.bias",
        "head.3.bias",
        "norm.bias",
        "norm.weight",
    ]
    assert isinstance(optimizer, torch.optim.AdamW)


# ---------------------------------------------------------------------------- data order
def test_sample_order_is_a_function_of_seed_and_step():
    whole = list(bc.StepBatchSampler(7, 3, seed=1, start=0, stop=10))
    assert all(len(b) == 3 for b in whole)
    stream = [i for b in whole for i in b]
    for epoch in range(4):  # every epoch is a permutation (batches span epoch boundaries)
        assert sorted(stream[7 * epoch : 7 * epoch + 7]) == list(range(7))
    assert list(bc.StepBatchSampler(7, 3, seed=1, start=4, stop=10)) == whole[4:]  # mid-epoch
    assert list(bc.StepBatchSampler(7, 3, seed=2, start=0, stop=10)) != whole
    assert stream[:7] != stream[7:14]  # epochs are shuffled afresh


def test_select_demos_takes_the_first_n_of_each_task(dataset):
    subset = bc.select_demos(dataset, 2)
    assert list(subset.indices) == list(range(0, 11)) + list(range(18, 26))  # task0 demos 0,1
    assert len(bc.select_demos(dataset, 50)) == len(dataset)  # fewer demos than asked: all
    first = bc.select_demos(dataset, 1)
    assert list(first.indices) == list(range(0, 5)) + list(range(18, 22))
    assert [first[i]["instruction"] for i in (0, 4, 5, 8)] == ["task 0"] * 2 + ["task 1"] * 2


# ---------------------------------------------------------------------------- training
def test_loss_goes_down(dataset, tmp_path):
    cfg = bc_config(steps=30, lr=1e-2, warmup_steps=2, log_every=5, checkpoint_every=100)
    result = run(fresh_policy(), dataset, tmp_path, cfg)
    losses = [entry["loss"] for entry in result["history"]]
    assert [entry["step"] for entry in result["history"]] == [5, 10, 15, 20, 25, 30]
    assert losses[-1] < 0.6 * losses[0], losses
    assert json.loads((tmp_path / bc.HISTORY).read_text()) == result["history"]
    assert result["finished"] and Path(result["final"]) == tmp_path / "final"


def test_resume_after_a_clean_stop_is_bit_exact(dataset, tmp_path):
    a = run(fresh_policy(), dataset, tmp_path / "a")
    first = run(fresh_policy(), dataset, tmp_path / "b", max_steps_this_run=4)
    assert (first["step"], first["finished"], first["final"]) == (4, False, None)
    assert [d.name for d in bc.checkpoint_dirs(tmp_path / "b")] == ["step_3", "step_4"]
    policy_b = fresh_policy(2)  # a new process: other initial weights, overwritten on resume
    b = run(policy_b, dataset, tmp_path / "b")
    assert (b["resumed_from"], b["step"], b["finished"]) == (4, 8, True)
    assert_same_tensors(TinyPolicy.from_pretrained(a["final"]).state_dict(), policy_b.state_dict())
    assert_same_checkpoint(tmp_path / "a/checkpoints/step_8", tmp_path / "b/checkpoints/step_8")
    assert [e["step"] for e in b["history"]] == [2, 4, 6, 8]
    again = run(policy_b, dataset, tmp_path / "b")  # a finished run does nothing more
    assert (again["resumed_from"], again["step"], again["history"]) == (8, 8, b["history"])


class Killed(Exception):
    pass


def test_resume_after_a_kill_between_checkpoints_replays_the_lost_steps(dataset, tmp_path):
    a = run(fresh_policy(), dataset, tmp_path / "a")
    dying, calls = fresh_policy(), []
    original = dying.bc_loss

    def bc_loss_then_die(batch):
        calls.append(1)
        if len(calls) == 6:  # steps 1..5 done, step 3 checkpointed, killed in step 6
            raise Killed
        return original(batch)

    dying.bc_loss = bc_loss_then_die
    with pytest.raises(Killed):
        run(dying, dataset, tmp_path / "b")
    assert [d.name for d in bc.checkpoint_dirs(tmp_path / "b")] == ["step_3"]
    logged = json.loads((tmp_path / "b" / bc.HISTORY).read_text())
    assert [e["step"] for e in logged] == [2, 4]  # step 4 was logged, then lost
    policy_b = fresh_policy(3)
    b = run(policy_b, dataset, tmp_path / "b")
    assert b["resumed_from"] == 3
    assert_same_tensors(TinyPolicy.from_pretrained(a["final"]).state_dict(), policy_b.state_dict())
    assert_same_checkpoint(tmp_path / "a/checkpoints/step_8", tmp_path / "b/checkpoints/step_8")
    history = lambda r: [(e["step"], e["loss"], e["lr"]) for e in r["history"]]  # noqa: E731
    assert history(a) == history(b)


def test_loss_randomness_depends_only_on_seed_and_step(dataset, tmp_path):
    """The global RNG is seeded per step: whatever drew from it before train() does not matter."""
    weights = []
    for caller_seed in (5, 6):
        policy = fresh_policy()
        torch.manual_seed(caller_seed)
        run(policy, dataset, tmp_path / str(caller_seed), bc_config(steps=3))
        weights.append(policy.state_dict())
    assert_same_tensors(*weights)
    other = fresh_policy()
    bc.train(other, dataset, bc_config(steps=3), tmp_path / "other", seed=8, progress=False)
    assert not torch.equal(other.head[3].weight, weights[0]["head.3.weight"])


def test_checkpoints_are_pickle_free_rotated_and_loadable(dataset, tmp_path):
    run(fresh_policy(), dataset, tmp_path, bc_config(steps=7, checkpoint_every=2))
    root = tmp_path / bc.CHECKPOINTS
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step_6", "step_7"]
    assert (root / "latest").read_text().strip() == "step_7"
    assert bc.latest_checkpoint(tmp_path) == root / "step_7"
    for directory in (root / "step_7", tmp_path / "final"):
        files = sorted(p.name for p in directory.iterdir())
        assert all(p.endswith((".safetensors", ".json")) for p in files), files
        for p in directory.iterdir():  # a pickle stream starts with the PROTO opcode 0x80
            assert not p.read_bytes().startswith(b"\x80"), p
    assert {"model.safetensors", "config.json", bc.OPTIMIZER_TENSORS, bc.TRAINER_STATE} <= set(
        p.name for p in (root / "step_7").iterdir()
    )
    loaded = TinyPolicy.from_pretrained(root / "step_7")
    assert_same_tensors(
        loaded.state_dict(), TinyPolicy.from_pretrained(tmp_path / "final").state_dict()
    )
    tensors = load_file(root / "step_7" / bc.OPTIMIZER_TENSORS)
    assert {k.rsplit(".", 1)[1] for k in tensors} == {"exp_avg", "exp_avg_sq", "step"}
    assert float(tensors["state.0.step"]) == 7.0


def test_resume_refuses_a_changed_trajectory(dataset, tmp_path):
    run(fresh_policy(), dataset, tmp_path, bc_config(), max_steps_this_run=3)
    with pytest.raises(ValueError, match=r"lr: 0.003 -> 0.001"):
        run(fresh_policy(), dataset, tmp_path, bc_config(lr=1e-3))
    untouched = fresh_policy()
    with pytest.raises(ValueError, match=r"seed: 7 -> 8"):
        bc.train(untouched, dataset, bc_config(), tmp_path, seed=8, progress=False)
    assert_same_tensors(untouched.state_dict(), fresh_policy().state_dict())  # checked first
    resumed = run(fresh_policy(), dataset, tmp_path, bc_config(log_every=1, checkpoint_every=5))
    assert resumed["resumed_from"] == 3 and resumed["finished"]  # bookkeeping may change


def test_a_checkpoint_of_another_model_is_refused_or_restarted(dataset, tmp_path):
    """DVC keeps a stage's output directory across reruns, so after a model change (other
    tensors, another vocabulary) the directory holds the old model's checkpoints: they are
    refused, or with ``restart_stale`` removed, and the run is the same as one in a clean
    directory."""
    run(fresh_policy(), dataset, tmp_path / "old")  # finished: a resume would do nothing
    torch.manual_seed(0)
    wider = TinyPolicy(hidden=24)
    with pytest.raises(bc.StaleCheckpointError, match="model: other tensors or vocabulary"):
        run(wider, dataset, tmp_path / "old")
    torch.manual_seed(0)
    clean = run(TinyPolicy(hidden=24), dataset, tmp_path / "clean")
    torch.manual_seed(0)
    restarted = run(TinyPolicy(hidden=24), dataset, tmp_path / "old", restart_stale=True)
    assert restarted["resumed_from"] is None and restarted["finished"]
    untimed = [[{k: v for k, v in e.items() if k != "wall_s"} for e in r["history"]]
               for r in (clean, restarted)]  # fmt: skip
    assert untimed[0] == untimed[1] and len(untimed[0]) == 4
    assert_same_checkpoint(
        tmp_path / "clean/checkpoints/step_8", tmp_path / "old/checkpoints/step_8"
    )
    assert json.loads((tmp_path / "old" / bc.HISTORY).read_text()) == restarted["history"]


def test_a_vocabulary_change_alone_makes_a_checkpoint_stale():
    class Worded(TinyPolicy):
        def __init__(self, words):
            super().__init__()
            self.tokenizer = InstructionTokenizer.train(words)

    torch.manual_seed(0)
    a, b = Worded(["open the door"]), Worded(["open the window"])
    assert a.state_dict().keys() == b.state_dict().keys()
    assert bc.model_signature(a) != bc.model_signature(b)
    torch.manual_seed(1)
    assert bc.model_signature(Worded(["open the door"])) == bc.model_signature(a)  # not values


def test_a_checkpoint_without_a_model_signature_is_stale(dataset, tmp_path):
    run(fresh_policy(), dataset, tmp_path, max_steps_this_run=3)
    state = tmp_path / "checkpoints" / "step_3" / bc.TRAINER_STATE
    old = json.loads(state.read_text())
    del old["model"]  # as written before checkpoints recorded the model
    state.write_text(json.dumps(old))
    with pytest.raises(bc.StaleCheckpointError, match="predates model signatures"):
        run(fresh_policy(), dataset, tmp_path)


def test_dataloader_workers_change_nothing(dataset, tmp_path):
    weights = []
    for workers in (0, 1):
        policy = fresh_policy()
        run(policy, dataset, tmp_path / str(workers), bc_config(steps=3, num_workers=workers))
        weights.append(policy.state_dict())
    assert_same_tensors(*weights)


def test_random_shift_moves_each_image_by_its_own_offset():
    base = torch.arange(6 * 6, dtype=torch.uint8).view(1, 6, 6, 1).repeat(3, 1, 1, 2)
    assert bc.random_shift(base, 0) is base
    torch.manual_seed(0)
    shifted = bc.random_shift(base, 2)
    torch.manual_seed(0)
    offsets = torch.randint(0, 5, (3, 2)) - 2  # the same draws: (row, column) moves
    assert shifted.shape == base.shape and shifted.dtype == torch.uint8
    for i, (dr, dc) in enumerate(offsets.tolist()):
        rows = (torch.arange(6) + dr).clamp(0, 5)  # replicated border
        cols = (torch.arange(6) + dc).clamp(0, 5)
        assert torch.equal(shifted[i], base[i][rows][:, cols])
    assert len({tuple(o) for o in offsets.tolist()}) > 1  # not one shift for the whole batch


def test_shift_augmentation_trains_and_resumes_bit_exactly(dataset, tmp_path):
    cfg = bc_config(shift_pixels=2)
    a = fresh_policy()
    run(a, dataset, tmp_path / "a", cfg)
    run(fresh_policy(), dataset, tmp_path / "b", cfg, max_steps_this_run=4)
    b = fresh_policy(3)
    run(b, dataset, tmp_path / "b", cfg)
    assert_same_tensors(a.state_dict(), b.state_dict())
    plain = fresh_policy()
    run(plain, dataset, tmp_path / "plain", bc_config())
    assert not torch.equal(plain.state_dict()["head.3.weight"], a.state_dict()["head.3.weight"])


def test_bf16_step(dataset, tmp_path):
    policy = fresh_policy()
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    result = run(
        policy, dataset, tmp_path, bc_config(steps=1, warmup_steps=0, precision="bf16", log_every=1)
    )
    assert result["finished"] and math.isfinite(result["history"][0]["loss"])
    assert not torch.equal(before["head.3.weight"], policy.state_dict()["head.3.weight"])
    assert policy.head[3].weight.dtype == torch.float32  # autocast, not a bf16 model


def test_metrics_reach_dvclive(dataset, tmp_path, monkeypatch):
    from dvclive import Live

    monkeypatch.chdir(tmp_path)
    with Live(str(tmp_path / "live"), save_dvc_exp=False, dvcyaml=False) as live:
        run(fresh_policy(), dataset, tmp_path / "out", bc_config(steps=4, log_every=2), live=live)
    rows = (tmp_path / "live/plots/metrics/train/loss.tsv").read_text().splitlines()
    assert rows[0].split("\t") == ["step", "loss"]
    assert [r.split("\t")[0] for r in rows[1:]] == ["2", "4"]
    assert (tmp_path / "live/plots/metrics/train/lr.tsv").is_file()


def test_bad_arguments(dataset, tmp_path):
    with pytest.raises(ValueError, match="max_steps_this_run"):
        run(fresh_policy(), dataset, tmp_path, max_steps_this_run=0)
    frozen = fresh_policy().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        run(frozen, dataset, tmp_path)


@pytest.mark.parametrize("family", ["pi05", "openvla"])  # flow noise in the loss; discrete tokens
def test_a_real_family_resumes_bit_exactly(demo_paths, tmp_path, family):
    """The same guarantee on a micro VLA (one camera, the test's tiny images)."""
    from ptrim.models import build

    data = ChunkDataset(demo_paths, horizon=4, cameras=("agentview",))

    def fresh(seed: int = 0):
        torch.manual_seed(seed)
        return build(
            family,
            "micro",
            1 if family == "openvla" else 4,
            cameras=("agentview",),
            image_size=SIZE,
        )

    cfg = bc_config(steps=4, warmup_steps=1, checkpoint_every=2, batch_size=3)
    a = run(fresh(), data, tmp_path / "a", cfg)
    run(fresh(), data, tmp_path / "b", cfg, max_steps_this_run=3)
    resumed = fresh(5)
    b = run(resumed, data, tmp_path / "b", cfg)
    assert b["resumed_from"] == 3 and b["finished"]
    assert_same_tensors(
        type(resumed).from_pretrained(a["final"]).state_dict(), resumed.state_dict()
    )
