"""The paper's published numbers (PAPER.md §2 and §5), for the tables and figures that put
ours beside them. Nothing here is measured by ptrim."""

from __future__ import annotations

# Table 1, LIBERO: (suite, method) -> model -> (SR %, steps S, execution length h, Spd)
TABLE1: dict[tuple[str, str], dict[str, tuple[float, float, int, float]]] = {
    ("libero_spatial", "base"): {
        "pi05": (97.8, 108.3, 5, 1.0),
        "oft": (98.6, 111.2, 8, 1.0),
        "gr00t": (91.4, 67.2, 5, 1.0),
    },
    ("libero_spatial", "policytrim"): {
        "pi05": (97.8, 59.8, 15, 5.43),
        "oft": (98.8, 62.1, 8, 1.79),
        "gr00t": (92.0, 56.6, 10, 2.37),
    },
    ("libero_object", "base"): {
        "pi05": (99.1, 125.0, 5, 1.0),
        "oft": (98.5, 135.2, 8, 1.0),
        "gr00t": (95.0, 71.3, 5, 1.0),
    },
    ("libero_object", "policytrim"): {
        "pi05": (98.5, 64.3, 15, 5.83),
        "oft": (98.5, 68.8, 8, 1.97),
        "gr00t": (95.3, 65.5, 10, 2.18),
    },
    ("libero_goal", "base"): {
        "pi05": (98.7, 110.6, 5, 1.0),
        "oft": (97.7, 118.6, 8, 1.0),
        "gr00t": (84.2, 63.3, 5, 1.0),
    },
    ("libero_goal", "policytrim"): {
        "pi05": (98.8, 63.5, 15, 5.23),
        "oft": (98.0, 66.9, 8, 1.77),
        "gr00t": (86.3, 60.8, 10, 2.08),
    },
    ("libero_10", "base"): {
        "pi05": (93.0, 249.8, 5, 1.0),
        "oft": (92.9, 249.3, 8, 1.0),
        "gr00t": (86.1, 177.9, 5, 1.0),
    },
    ("libero_10", "policytrim"): {
        "pi05": (93.3, 171.8, 10, 2.91),
        "oft": (93.1, 178.3, 8, 1.40),
        "gr00t": (89.2, 165.9, 10, 2.14),
    },
}

# Table 2, ManiSkill and Meta-World: (benchmark, method) -> model -> (SR %, S, h, Spd). The
# paper's ManiSkill scenes (PutOnPlateInScene25, SIMPLER-style) need asset downloads; ours are
# the ManiSkill3 tasks that need none (ptrim/envs/maniskill.py). OFT has no Meta-World row.
TABLE2: dict[tuple[str, str], dict[str, tuple[float, float, int, float]]] = {
    ("maniskill", "base"): {"pi05": (88.1, 45.2, 5, 1.0), "oft": (60.6, 53.1, 8, 1.0)},
    ("maniskill", "policytrim"): {"pi05": (89.8, 38.3, 10, 2.36), "oft": (63.2, 46.7, 8, 1.14)},
    ("metaworld", "base"): {"pi05": (65.1, 66.3, 5, 1.0)},
    ("metaworld", "policytrim"): {"pi05": (65.4, 52.6, 10, 2.52)},
}
TABLE2_NOTE = (
    "The paper's ManiSkill numbers are on PutOnPlateInScene25, whose scenes and objects need "
    "downloads (unavailable here); ours are on ManiSkill3 tasks that need none. The paper does "
    "not name its Meta-World task set; ours is the profile's (MT10 by default)."
)

# Architectural generality, LIBERO-Spatial: model -> method -> (SR %, S, h, Spd); OpenVLA
# executes one action per call and runs stage 2 only.
GENERALITY: dict[str, dict[str, tuple[float, float, int, float]]] = {
    "oft_h16": {"base": (98.6, 111.2, 8, 1.0), "policytrim": (98.8, 65.4, 14, 2.97)},
    "openvla": {"base": (84.7, 113.5, 1, 1.0), "policytrim": (87.0, 80.6, 1, 1.41)},
}
GENERALITY_SUITE = "libero_spatial"

# Fig. 1b, read off the plot: pi0.5 on LIBERO-Spatial, success (%) and steps against h.
FIG1B = {
    "label": "paper (π0.5, LIBERO-Spatial)",
    "h": [5, 7, 9, 11, 13, 15],
    "success_rate": [98.2, 98.8, 99.0, 95.0, 94.8, 89.8],
    "steps": [105.3, 104.3, 103.6, 110.9, 114.7, 120.7],
}

SUITE_NAMES = {
    "libero_spatial": "Spatial",
    "libero_object": "Object",
    "libero_goal": "Goal",
    "libero_10": "Long",
    "metaworld_mt10": "Meta-World MT10",
    "metaworld_mt50": "Meta-World MT50",
    "maniskill": "ManiSkill3",
}
MODEL_NAMES = {
    "pi05": "π0.5",
    "oft": "OpenVLA-OFT",
    "gr00t": "GR00T N1.5",
    "openvla": "OpenVLA",
    "oft_h16": "OFT (H = 16)",
}
