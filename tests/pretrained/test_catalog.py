"""Registered weights: the ``weights`` registry kind, finding entries by name, tag and default, and bad entries."""

from __future__ import annotations

import pytest

from torchbricks import registry
from torchbricks.errors import (
    AmbiguousBrickNameError,
    InvalidWeightsEntryError,
    NotABrickError,
    UnknownBrickError,
    UnknownWeightsError,
)
from torchbricks.pretrained import PretrainedWeights, find_weights, list_weights
from torchbricks.pretrained._catalog import weights_of

SHA = "ab" * 32


@pytest.fixture
def zoo(register) -> dict[str, PretrainedWeights]:
    return {
        weights.name: weights
        for weights in (
            register(brick="zoonet", tag="small_v1", sha256=SHA, dataset="shapes", license="MIT"),
            register(brick="zoonet", tag="small_v2", sha256=SHA, default=True, dataset="shapes", license="MIT"),
            register(brick="zoonet.dotted", tag="v1", sha256=SHA),
        )
    }


def test_weights_is_a_registry_kind_but_not_a_brick_kind() -> None:
    assert registry.WEIGHTS == "weights"
    assert "weights" in registry.KINDS
    assert "weights" not in registry.BRICK_KINDS
    assert registry.entry_point_group("weights") == "torchbricks.weights"
    assert registry.normalize_kind("weight") == "weights"


def test_find_weights_by_name_qualified_name_tuple_and_tag(zoo) -> None:
    expected = zoo["zoonet.small_v1"]
    assert find_weights("zoonet.small_v1") is expected
    assert find_weights("local:zoonet.small_v1") is expected
    assert find_weights("zoonet", "small_v1") is expected
    assert find_weights(("zoonet", "small_v1")) is expected
    assert find_weights(expected) is expected
    assert find_weights("zoonet.dotted.v1") is zoo["zoonet.dotted.v1"]  # a dotted brick name: the tag is last


def test_default_picks_the_entry_marked_default(zoo) -> None:
    assert find_weights("zoonet.default") is zoo["zoonet.small_v2"]
    assert find_weights("zoonet", "default") is zoo["zoonet.small_v2"]
    assert find_weights("local:zoonet.default") is zoo["zoonet.small_v2"]
    with pytest.raises(UnknownWeightsError, match=r"Tags of zoonet\.dotted: v1\."):
        find_weights("zoonet.dotted.default")  # no entry of that brick is the default


def test_several_defaults_of_one_brick_are_ambiguous(register) -> None:
    register(brick="twice", tag="a", sha256=SHA, default=True)
    register(brick="twice", tag="b", sha256=SHA, default=True)
    with pytest.raises(AmbiguousBrickNameError, match=r"'local:twice\.a', 'local:twice\.b'"):
        find_weights("twice.default")


def test_unknown_names_suggest_close_matches_and_list_the_brick_tags(zoo) -> None:
    with pytest.raises(UnknownWeightsError) as caught:
        find_weights("zoonet.small_v3")
    message = str(caught.value)
    assert message.startswith("No pretrained weights named 'zoonet.small_v3'.")
    assert "Did you mean 'zoonet.small_v2' or 'zoonet.small_v1'?" in message
    assert "Tags of zoonet: small_v1, small_v2 (default)." in message
    assert isinstance(caught.value, UnknownBrickError)
    assert isinstance(caught.value, KeyError)

    with pytest.raises(UnknownWeightsError, match="No weights are registered for a brick named 'nonet'"):
        find_weights("nonet.default")


def test_list_weights_filters_by_glob(zoo) -> None:
    assert [weights.name for weights in list_weights("zoonet.small_*")] == ["zoonet.small_v1", "zoonet.small_v2"]
    assert {"zoonet.small_v1", "zoonet.dotted.v1"} <= {weights.name for weights in list_weights()}
    assert [entry.name for entry in registry.list_bricks("weights", "zoonet.*")] == [
        "zoonet.dotted.v1",
        "zoonet.small_v1",
        "zoonet.small_v2",
    ]


def test_create_refuses_weights(zoo) -> None:
    with pytest.raises(NotABrickError, match=r"weights 'local:zoonet\.small_v1' are pretrained weights, not a brick"):
        registry.create("weights", "zoonet.small_v1")


@pytest.mark.parametrize(
    ("factory", "problem"),
    [
        (lambda: {"sha256": SHA}, r"returned dict, not a torchbricks\.pretrained\.PretrainedWeights"),
        (lambda: PretrainedWeights(brick="other", tag="t", sha256=SHA), r"registered as 'bad.entry' but describes"),
        (lambda: 1 / 0, r"failed: ZeroDivisionError"),
    ],
)
def test_a_bad_entry_is_a_named_error_and_is_left_out_of_listings(factory, problem: str) -> None:
    registry.register("weights", "bad.entry", factory)
    try:
        with pytest.raises(InvalidWeightsEntryError, match=r"weights 'local:bad\.entry' \(.*\)") as caught:
            find_weights("bad.entry")
        assert caught.match(problem)
        assert "bad.entry" not in [weights.name for weights in list_weights("bad.*")]
        with pytest.raises(InvalidWeightsEntryError):
            weights_of(registry.get_entry("weights", "bad.entry"))
    finally:
        registry.unregister("weights", "bad.entry")
