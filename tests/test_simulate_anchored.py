"""The anchored simulation (bench/simulate_anchored.py): its parameters validate, one command's
figures are reproducible from the seed, and the learned arm really moves calls."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.anchored_model import ARMS, population_curve
from bench.simulate_anchored import DEFAULT, run
from bench.simulate_params import ParamsError, parse_params


def test_same_seeds_same_figures_and_other_seeds_other_figures() -> None:
    first = run(DEFAULT, seeds=2, refunds=40)
    again = run(DEFAULT, seeds=2, refunds=40)
    assert first["figures"] == again["figures"]
    assert first["per_seed"] == again["per_seed"]
    more = run(DEFAULT, seeds=3, refunds=40)
    assert (
        more["per_seed"]["central"]["fixed_ladder"][:2]
        == first["per_seed"]["central"]["fixed_ladder"]
    )  # seeds 1-2 are the same runs; seed 3 is new
    assert (
        more["per_seed"]["central"]["fixed_ladder"][2]
        != first["per_seed"]["central"]["fixed_ladder"][0]
    )
    central = first["figures"]["central"]["arms"]
    assert set(central) == set(ARMS)
    assert central["no_alerts"]["calls"]["median"] == 0
    assert central["fixed_ladder"]["calls"]["median"] > 0
    assert central["learned_ladder"]["moved_calls"]["median"] > 0
    assert central["fixed_ladder"]["moved_calls"]["median"] == 0
    # Every arm faces the same money at risk: alerts can only add saves to no alerts.
    for name in first["figures"]:
        arms = first["figures"][name]["arms"]
        assert (
            arms["no_alerts"]["saved_usd"]["median"] <= arms["in_app_only"]["saved_usd"]["median"]
        )


def test_the_curves_are_the_published_shape_at_the_sets_level() -> None:
    curve = population_curve(0.298)
    assert max(range(24), key=lambda h: curve[h]) == 10  # PhoneBurner's peak hour
    assert sum(curve[8:22]) / 14 == pytest.approx(0.298)


def test_a_bad_anchored_block_is_named() -> None:
    raw = yaml.safe_load(Path(DEFAULT).read_text())
    raw["anchored"]["sets"]["central"]["p_act_when_connected"] = 1.5
    with pytest.raises(ParamsError, match=r"anchored\.sets\.central\.p_act_when_connected"):
        parse_params(raw)
    raw = yaml.safe_load(Path(DEFAULT).read_text())
    del raw["anchored"]["sets"]["pessimistic"]
    with pytest.raises(ParamsError, match="pessimistic, central, optimistic"):
        parse_params(raw)
