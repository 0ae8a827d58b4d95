"""A real pip-installed pack registering weights through the ``torchbricks.weights`` entry-point group.

The pack ships one weights file inside its package (``package_file``), names another on a local HTTP
server, and has one broken entry (it returns a dict) that ``torchbricks packs --check`` must name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import packs
from tests.pretrained.conftest import safetensors_bytes, sha256
from tests.pretrained.server import WeightsServer

pytestmark = pytest.mark.slow

SHIPPED = safetensors_bytes(10)
SERVED = safetensors_bytes(11)


def _pack(url: str) -> packs.PackSource:
    return packs.PackSource(
        name="tbfixture-weights",
        version="0.2.0",
        files={
            "zoo.py": f'''
                from tbfixture_weights.marker import mark
                from torchbricks.pretrained import PretrainedWeights, Preprocessing

                mark("import")


                def tbnet_shipped():
                    """Weights shipped inside the pack."""
                    return PretrainedWeights(
                        brick="tbnet", tag="shipped", sha256={sha256(SHIPPED)!r}, size={len(SHIPPED)},
                        package_file="tbfixture_weights:tbnet-shipped.safetensors", default=True,
                        license="CC-BY-4.0", dataset="shapes",
                        preprocessing=Preprocessing(mean=(0.5,) * 3, std=(0.25,) * 3, input_size=(32, 32)),
                    )


                def tbnet_served():
                    """Weights on a server."""
                    return PretrainedWeights(
                        brick="tbnet", tag="served", sha256={sha256(SERVED)!r}, urls=({url!r},),
                    )


                def tbnet_bad():
                    """Not weights at all."""
                    return {{"sha256": "nope"}}
            ''',
            "marker.py": packs._MARK,
        },
        entry_points={  # names with a dot are quoted TOML keys ("tbnet.shipped" = ...), else TOML nests them
            "torchbricks.weights": {
                '"tbnet.shipped"': "tbfixture_weights.zoo:tbnet_shipped",
                '"tbnet.served"': "tbfixture_weights.zoo:tbnet_served",
                '"tbnet.bad"': "tbfixture_weights.zoo:tbnet_bad",
            }
        },
    )


@pytest.fixture(scope="module")
def pack_server() -> Iterator[WeightsServer]:
    with WeightsServer() as server:
        yield server


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory, pack_server: WeightsServer) -> packs.Environment:
    root = tmp_path_factory.mktemp("weights-pack")
    url = pack_server.serve("tbnet-served.safetensors", SERVED)
    folder = _pack(url).write(root / "packs")
    (folder / "tbfixture_weights" / "tbnet-shipped.safetensors").write_bytes(SHIPPED)
    environment = packs.Environment(root / "environment")
    environment.install(folder)
    return environment


def _rows(output: str) -> list[list[str]]:
    return [line.split("\t") for line in output.rstrip("\n").splitlines()]


def test_listing_reads_entry_points_without_importing_the_pack(environment: packs.Environment) -> None:
    completed = environment.cli("list", "weights", "--pack", "tbfixture-weights")
    assert completed.returncode == 0, completed.stderr
    rows = _rows(completed.stdout)[1:]
    assert [(row[0], row[1], row[2], row[4]) for row in rows] == [
        ("tbnet.bad", "weights", "tbfixture-weights", "Not weights at all."),
        ("tbnet.served", "weights", "tbfixture-weights", "Weights on a server."),
        ("tbnet.shipped", "weights", "tbfixture-weights", "Weights shipped inside the pack."),
    ]
    assert "import" not in environment.marker_events()


def test_weights_commands_use_the_entry_points(environment: packs.Environment, pack_server: WeightsServer) -> None:
    listing = environment.cli("weights", "list", "tbnet.*")
    assert listing.returncode == 0, listing.stderr
    assert _rows(listing.stdout)[1:] == [
        ["tbnet.served", "tbfixture-weights", "", "unknown", "unknown", "no"],
        ["tbnet.shipped", "tbfixture-weights", "yes", "shapes", "CC-BY-4.0", "no"],
    ]
    # The broken entry is named on stderr, the others still listed.
    assert "weights 'tbfixture-weights:tbnet.bad' (tbfixture_weights.zoo:tbnet_bad) returned dict" in listing.stderr

    info = json.loads(environment.cli("weights", "info", "tbnet.default", "--json").stdout)
    assert info["qualified_name"] == "tbfixture-weights:tbnet.shipped"
    assert info["preprocessing"]["input_size"] == [32, 32]

    # The shipped file needs no network at all; the served one is downloaded into the cache.
    shipped = environment.cli("weights", "fetch", "tbnet.default", TORCHBRICKS_OFFLINE="1")
    assert shipped.returncode == 0, shipped.stderr
    shipped_path = Path(_rows(shipped.stdout)[1][1])
    assert shipped_path.name == "tbnet-shipped.safetensors"
    assert shipped_path.parent.name == "tbfixture_weights"
    assert shipped_path.read_bytes() == SHIPPED

    served = environment.cli("weights", "fetch", "--quiet", "tbfixture-weights:tbnet.served")
    assert served.returncode == 0, served.stderr
    assert _rows(served.stdout)[1] == [
        "tbnet.served",
        str(environment.cache_dir / "weights" / "tbnet.served" / "tbnet-served.safetensors"),
    ]
    assert pack_server.requests == ["/tbnet-served.safetensors"]


def test_packs_check_names_an_entry_that_returns_no_weights(environment: packs.Environment) -> None:
    completed = environment.cli("packs", "--check", "--pack", "tbfixture-weights", "--json")
    assert completed.returncode == 0, completed.stderr
    (status,) = json.loads(completed.stdout)
    assert status["status"] == "error"
    assert status["bricks"] == {"weights": 3}
    assert status["errors"] == [
        "weights 'tbfixture-weights:tbnet.bad' (tbfixture_weights.zoo:tbnet_bad) returned dict, "
        "not a torchbricks.pretrained.PretrainedWeights"
    ]
