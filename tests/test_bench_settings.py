"""`--setting AFTERSALES_NAME=VALUE` of the benches reaches the stack's processes (an A/B of one
setting must not run the default on both sides)."""

from __future__ import annotations

import pytest

from bench import api_latency, throughput
from bench.stack import stack_settings


def test_settings_become_the_stacks_environment_and_anything_else_is_refused() -> None:
    given = ["AFTERSALES_RELAY_GATHER_SECONDS=0", "AFTERSALES_BACKGROUND_NICE=19"]
    expected = {"AFTERSALES_RELAY_GATHER_SECONDS": "0", "AFTERSALES_BACKGROUND_NICE": "19"}
    assert stack_settings(given) == expected
    for wrong in ("RELAY_GATHER_SECONDS=0", "AFTERSALES_RELAY_GATHER_SECONDS", "AFTERSALES_=1"):
        with pytest.raises(SystemExit, match="AFTERSALES_NAME=VALUE"):
            stack_settings([wrong])


def test_both_benches_take_the_option() -> None:
    pair = "AFTERSALES_RELAY_GATHER_SECONDS=0"
    assert api_latency.parse_args(["--setting", pair]).setting == [pair]
    assert throughput.parse_args(["--setting", pair]).setting == [pair]
