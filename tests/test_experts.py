import numpy as np
import pytest

from ptrim.experts.redundancy import Redundancy
from ptrim.experts.scene import Footprint, parse_goal


# ------------------------------------------------------------------ pure pieces
def test_parse_goal_reads_bddl_atoms():
    bddl = """(define (problem x) (:goal
        (And (Turnon flat_stove_1) (On moka_pot_1 flat_stove_1_cook_region))
      ) )"""
    assert parse_goal(bddl) == [
        ("turnon", "flat_stove_1"),
        ("on", "moka_pot_1", "flat_stove_1_cook_region"),
    ]


def test_footprint_gap_is_the_separation_along_the_best_axis():
    square = np.array(
        [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 2], [1, 0, 2], [1, 1, 2], [0, 1, 2]],
        float,
    )
    f = Footprint.of(square)
    assert (f.top, f.bottom) == (2.0, 0.0)
    right = np.array([[1.5, 0], [2.5, 0], [2.5, 1], [1.5, 1]], float)
    assert f.gap(right) == pytest.approx(0.5)
    overlapping = right - [1.0, 0]
    assert f.gap(overlapping) == pytest.approx(-0.5)


def test_redundancy_level_is_checked_and_seeded():
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        Redundancy(1.5, np.random.default_rng(0), budget_steps=10)
    a = Redundancy(0.8, np.random.default_rng(3), budget_steps=10)
    b = Redundancy(0.8, np.random.default_rng(3), budget_steps=10)
    assert a.speed_scale == b.speed_scale < 1.0
    assert Redundancy(0.0, np.random.default_rng(3), budget_steps=10).speed_scale == 1.0


# ------------------------------------------------------------------ real LIBERO
def _run(suite, task, init=0, redundancy=0.0, seed=0):
    from ptrim.demos import run_expert
    from ptrim.envs.libero import LiberoEnv
    from ptrim.envs.libero_setup import canonical_suite

    limits = {"libero_spatial": 220, "libero_object": 280, "libero_goal": 300, "libero_10": 520}
    env = LiberoEnv(
        suite, task, image_size=32, cameras=("agentview",), max_steps=limits[canonical_suite(suite)]
    )
    ep = run_expert(env, init, seed=seed, redundancy=redundancy)
    env.close()
    return ep


@pytest.mark.sim
@pytest.mark.parametrize(
    "suite, task",
    [
        ("libero_object", 1),  # cream cheese: the flat box that needs a turned grasp
        ("libero_spatial", 4),  # bowl in an open drawer: rim grasp that clears the drawer walls
        ("libero_goal", 7),  # turn on the stove: the knob
        ("libero_goal", 5),  # push the plate: dragged from inside (a rim grasp tilts it)
        ("libero_10", 5),  # two objects into the basket
    ],
)
def test_expert_solves_one_task_per_suite(suite, task):
    ep = _run(suite, task)
    assert ep.success, f"{suite} task {task}: expert failed after {ep.steps} steps"
    assert len(ep.actions) == len(ep.states) == ep.steps
    assert np.all(np.abs(np.stack(ep.actions)) <= 1.0 + 1e-6)


@pytest.mark.sim
def test_redundancy_lengthens_demos_and_records_every_event():
    minimal = _run("object", 0, init=2)
    redundant = _run("object", 0, init=2, redundancy=1.0, seed=5)
    assert minimal.success and redundant.success
    assert minimal.events == []
    assert redundant.events, "no event injected at level 1"
    assert {e["kind"] for e in redundant.events} <= {
        "hesitation",
        "detour",
        "misalignment",
        "regrasp",
    }
    assert redundant.steps > minimal.steps
    assert sum(e["steps"] for e in redundant.events) < redundant.steps
    again = _run("object", 0, init=2, redundancy=1.0, seed=5)
    assert again.steps == redundant.steps and again.events == redundant.events


@pytest.mark.sim
def test_record_task_writes_resumable_libero_layout_demos(tmp_path):
    from ptrim.data import DemoFile
    from ptrim.demos import TaskJob, record_task
    from ptrim.envs.libero_setup import task_names

    job = TaskJob(
        suite="libero_object",
        task=task_names("libero_object")[0],
        path=tmp_path / "soup_demo.hdf5",
        init_states=[0],
        redundancy=0.5,
        seed=0,
        image_size=32,
        cameras=("agentview", "wrist"),
        max_steps=280,
        settle_steps=10,
    )
    stats = record_task(job)
    assert stats["kept"] == 1 and stats["tried"] >= 1
    with DemoFile(job.path) as f:
        assert len(f) == 1 and "alphabet soup" in f.instruction
        demo = f[0]
        T = demo.num_samples
        assert T == stats["steps"][0]
        assert demo.obs["agentview_rgb"].shape == (T, 32, 32, 3)
        assert demo.obs["eye_in_hand_rgb"].shape == (T, 32, 32, 3)
        assert demo.obs["ee_states"].shape == (T, 6) and demo.robot_states.shape == (T, 9)
        assert demo.dones[-1] == 1 and demo.rewards[-1] == 1 and demo.dones[:-1].sum() == 0
        assert demo.meta["init_index"] == 0 and demo.meta["redundancy"] == 0.5
        assert isinstance(demo.events, list)
        # the first frame is the rendered initial state (after the settle steps)
        assert demo.obs["agentview_rgb"][0].std() > 5
    job.init_states = [0, 1]
    again = record_task(job)  # resumes: state 0 is not recorded twice
    assert again["kept"] == 2
    with DemoFile(job.path) as f:
        assert sorted(f.meta(i)["init_index"] for i in range(len(f))) == [0, 1]
        lengths = sorted(int(n) for n in f.lengths())
    # the yield table is read back from the file: both demos, not only the one just recorded
    from ptrim.demos import recorded_yield, recording_status

    [row] = recording_status(tmp_path)
    assert row["task"] == "soup" and row["demos"] == 2 and row["mean_steps"] == np.mean(lengths)
    y = recorded_yield(job.path, 4, again)
    assert y["n"] == 2 and y["success_rate"] == 0.5 and sorted(y["steps"]) == lengths
    assert y["levels"] == [0.5, 0.5] and len(y["events"]) == 2


@pytest.mark.sim
def test_unsupported_task_is_reported_not_attempted():
    """The microwave's hinged door (LIBERO-Long task 9) has no recipe: the expert says so and
    the success table lists it apart instead of counting silent failures."""
    from ptrim.demos import expert_success
    from ptrim.envs.libero_setup import task_names

    out = expert_success(
        "libero_10",
        task_names("libero_10")[9],
        [0],
        max_steps=520,
        settle_steps=10,
        seed=0,
        attempts=1,
        redundancy=0.0,
    )
    assert out["success_rate"] is None and out["n"] == 0
    assert "microwave" in out["unsupported"]


def test_expert_table_keeps_the_suite_order_and_computes_the_spread():
    from ptrim.demos import expert_table

    def minimal(steps):
        return {
            "success_rate": 1.0,
            "mean_steps": float(np.mean(steps)),
            "n": len(steps),
            "steps": steps,
        }

    def redundant(steps):
        return {
            "success_rate": 1.0,
            "mean_steps": float(np.mean(steps)),
            "steps": steps,
            "events": [2, 4],
            "levels": [0.8, 1.0],
        }

    suite_order = {"b_task": minimal([100, 100]), "a_task": minimal([50, 70])}
    finished = {"a_task": redundant([90, 90]), "b_task": redundant([120, 180])}  # a finished first
    table = expert_table(suite_order, finished)
    assert list(table) == ["b_task", "a_task"]
    assert table["b_task"]["length_ratio"] == pytest.approx(1.5)
    assert table["b_task"]["step_cv_demos"] == pytest.approx(30 / 150)
    assert table["a_task"]["events_per_demo"] == 3.0 and table["a_task"]["mean_level_demos"] == 0.9
