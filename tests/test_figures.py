"""Figures that depend on the benchmark's action space."""

import matplotlib
import numpy as np

from ptrim import figures

matplotlib.use("Agg")


def sample(dims: int) -> dict:
    chunk = np.linspace(-1, 1, 8 * dims).reshape(8, dims)
    return {"demo": chunk, "planned": chunk * 0.9, "mask": np.ones(8, bool), "instruction": "x"}


def test_planned_vs_demo_draws_one_panel_per_action_dimension():
    for dims, first, last in ((7, "dx", "gripper"), (4, "dx", "gripper"), (3, "a0", "a2")):
        fig = figures.planned_vs_demo([sample(dims), sample(dims)])
        axes = np.array(fig.axes).reshape(2, dims)
        assert axes[0, 0].get_title() == first and axes[0, -1].get_title() == last
    assert figures.action_names(7)[3:6] == ("droll", "dpitch", "dyaw")
