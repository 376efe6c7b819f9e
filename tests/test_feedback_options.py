"""Feedback's options come from one table: its defaults, its checks and the CLI's flags."""

from __future__ import annotations

import pytest

from thinktwice.attribution.feedback import Feedback
from thinktwice.cli.common import feedback_options
from thinktwice.cli.main import build_parser
from thinktwice.errors import OptionError
from thinktwice.feedback.solvers import SOLVERS, make_solver, solver_defaults
from thinktwice.options import FEEDBACK_OPTIONS, SOLVER_NAMES, check_feedback_value


def test_every_row_of_the_table_is_a_flag_that_reaches_the_method_options():
    parser, _ = build_parser()
    given = {"max_iter": "2", "step": "0.3", "sparsity": "0", "layers": "all"}
    argv = ["explain", "x.png"]
    for option in FEEDBACK_OPTIONS:
        if option.kind == "flag":
            argv.append(option.flag)
        else:
            argv += [option.flag, option.choices[-1] if option.choices else given[option.name]]
    chosen = feedback_options(parser.parse_args(argv))
    assert list(chosen) == [option.name for option in FEEDBACK_OPTIONS]
    assert chosen["max_iter"] == 2 and chosen["prune_only"] is True and chosen["layers"] == "all"


def test_the_table_defaults_are_the_ones_the_library_runs_with():
    resolved = Feedback.resolved_options()
    relaxed = Feedback.complete_options(solver="relaxed")
    fsp = Feedback.complete_options(solver="fsp")
    for option in FEEDBACK_OPTIONS:
        if option.name in resolved:
            assert resolved[option.name] == option.default, option.name
        elif option.name in ("step", "sparsity"):
            assert relaxed[option.name] == option.default, option.name
        elif option.name in ("decision", "prune_only"):
            assert fsp[option.name] == option.default, option.name
        else:
            assert option.name == "preset" and option.default is None
    assert tuple(SOLVERS) == SOLVER_NAMES


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("max_iter", True, "max_iter must be an int >= 0, got True"),
        ("max_iter", -1, "max_iter must be an int >= 0"),
        ("step", float("inf"), "step must be a number > 0"),
        ("sparsity", -1, "sparsity must be a number >= 0"),
        ("prune_only", 1, "prune_only must be True or False"),
    ],
)
def test_one_check_serves_the_method_and_the_solver_built_alone(name, value, message):
    with pytest.raises(OptionError, match=message):
        check_feedback_value(name, value)
    solver = "relaxed" if name in ("step", "sparsity") else "fsp"
    with pytest.raises(OptionError, match=message):
        make_solver(solver, **{name: value})  # the one builder, as Feedback uses it


def test_the_one_builder_names_the_valid_solvers_and_options():
    assert solver_defaults("relaxed") == {"max_iter": 10, "step": 0.5, "sparsity": 0.0}
    with pytest.raises(OptionError, match="unknown solver 'sgd'; choose one of: fsp"):
        make_solver("sgd")
    with pytest.raises(OptionError, match="solver 'fr' takes no option step; its options: "):
        make_solver("fr", step=0.1)
