"""Every old import path of torchbricks and its standard pack, in one table: what it serves and from where.

An :class:`OldPath` is a module that no longer exists as a file: :mod:`torchbricks._compat` builds it on
import from the places named here. :data:`OLD_ATTRIBUTES` are old names inside modules that do exist.
A place is ``"module:attribute"`` (``"module:Class.attribute"`` reaches inside), or ``"module:*"`` for every
name of that module's ``__all__``.

The policy (CONTRIBUTING.md, "Old import paths"): the paths the seed README uses are the documented
contract and import silently (``contract=True``); every other old path warns once with a
``FutureWarning`` naming the new place and the release that removes it (:data:`REMOVED_IN`).

Example:
    >>> OLD_PATHS["torchbricks.model_stage"].names["ModelStage"]
    'torchbricks.groups:Stage'
    >>> OLD_PATHS["torchbricks.brick_collection"].contract, OLD_PATHS["torchbricks.model_stage"].contract
    (True, False)
"""

from __future__ import annotations

from typing import NamedTuple

REMOVED_IN = "0.6"
"""The release that removes every old path that is not part of the contract."""

HELPERS = "torchbricks._compat._helpers"
"""Where the old helpers with no new home live (their names are listed as kept, not moved)."""


class OldPath(NamedTuple):  # a NamedTuple: dataclasses would cost `import torchbricks` ~6 ms
    """An old module path: the release it comes from, whether it is contract, and where each name lives now."""

    since: str
    names: dict[str, str]
    contract: bool = False
    instead: str = ""
    """For names kept in :data:`HELPERS`: what new code uses instead (said in the warning)."""
    package: bool = False


_STAGES = {
    "ModelStage": "torchbricks.groups:Stage",
    "TRAINING": "torchbricks.groups:Stage.TRAIN.groups",
    "VALIDATION": "torchbricks.groups:Stage.VALIDATION.groups",
    "TEST": "torchbricks.groups:Stage.TEST.groups",
    "EXPORT": "torchbricks.groups:Stage.EXPORT.groups",
    "INFERENCE": "torchbricks.groups:Stage.INFERENCE.groups",
}
_GROUPS = {name: f"torchbricks.groups:{name}" for name in ("MODEL", "LOSS", "METRIC", "METRIC_EXTRA", "VISUALIZATION")}


_CLASSIFIERS = {name: f"bag_of_bricks.heads:{name}" for name in ("ImageClassifier", "MultiLabelClassifier")}
_CONCATENATE = {"ConcatenatePredictionAndTarget": "bag_of_bricks.metrics:ConcatenatePredictionAndTarget"}
_PER_IMAGE = {
    name: f"torchbricks.visualization:{name}"
    for name in ("BrickPerImageVisualization", "UNPACK_TENSORS_TO_NDARRAYS", "UNPACK_NO_CONVERSION")
}


def _whole(module: str) -> dict[str, str]:
    return {"*": f"{module}:*"}


OLD_PATHS: dict[str, OldPath] = {
    # -- the seed README's import paths (torchbricks 0.3): the contract, silent ---------------------------------
    "torchbricks.brick_collection": OldPath(
        "0.3", {"BrickCollection": "torchbricks.collection:BrickCollection", "Stage": "torchbricks.groups:Stage"}, True
    ),
    "torchbricks.brick_collection_utils": OldPath(
        "0.3",
        {
            "export_bricks_as_onnx": "torchbricks.export:export_bricks_as_onnx",
            "export_bricks": "torchbricks.export:export_bricks",
            "onnx_max_abs_differences": "torchbricks.export:onnx_max_abs_differences",
            "filter_brick_types": f"{HELPERS}:filter_brick_types",
        },
        True,
    ),
    "torchbricks.graph_plotter": OldPath(
        "0.3",
        {name: f"torchbricks.graph:{name}" for name in ("create_mermaid_dag_graph", "to_mermaid", "to_dot")},
        True,
    ),
    "torchbricks.bag_of_bricks": OldPath("0.3", {}, True, package=True),
    **{
        f"torchbricks.bag_of_bricks.{name}": OldPath("0.3", _whole(f"bag_of_bricks.{name}"), True)
        for name in ("backbones", "preprocessors")
    },
    "torchbricks.bag_of_bricks.image_classification": OldPath("0.3", _CLASSIFIERS, True),
    "torchbricks.bag_of_bricks.custom_metrics": OldPath("0.3", _CONCATENATE, True),
    "torchbricks.bag_of_bricks.brick_visualizer": OldPath("0.3", _PER_IMAGE, True),
    # the same modules of the standard pack under its own name (torchbricks.bag_of_bricks.X is bag_of_bricks.X)
    "bag_of_bricks.image_classification": OldPath("0.3", _CLASSIFIERS, True),
    "bag_of_bricks.custom_metrics": OldPath("0.3", _CONCATENATE, True),
    "bag_of_bricks.brick_visualizer": OldPath("0.3", _PER_IMAGE, True),
    # -- other 0.3 / 0.4.2 modules: a FutureWarning ----------------------------------------------------------------
    "torchbricks.brick_group": OldPath(
        "0.3", {**_GROUPS, "BrickGroup": f"{HELPERS}:BrickGroup"}, instead="the group names: torchbricks.MODEL, ..."
    ),
    "torchbricks.model_stage": OldPath(
        "0.3",
        {**_STAGES, "DEFAULT_MODEL_STAGE_GROUPS": f"{HELPERS}:DEFAULT_MODEL_STAGE_GROUPS"},
        instead="torchbricks.Stage.X.groups",
    ),
    "torchbricks.brick_tags": OldPath(
        "0.4.2",
        {"Tag": f"{HELPERS}:BrickGroup", **_STAGES, "DEFAULT_MODEL_STAGE_TAGS": f"{HELPERS}:DEFAULT_MODEL_STAGE_TAGS"},
        instead="torchbricks.MODEL, ... and Stage.X.groups",
    ),
    "torchbricks.bricks_helper": OldPath(
        "0.3",
        {
            name: f"{HELPERS}:{name}"
            for name in (
                "check_input_names",
                "select_inputs_by_name",
                "name_callable_outputs",
                "named_input_and_outputs_callable",
                "parse_argument_loss_output_name_indices",
            )
        },
        instead="a BrickCollection of bricks, which calls each module with its named inputs",
    ),
    "torchbricks.collection_utils": OldPath(
        "0.3",
        {name: f"{HELPERS}:{name}" for name in ("flatten_dict", "unflatten")},
        instead="BrickCollection.named_bricks() and to_dict()",
    ),
    # -- names that moved in the 0.5 re-layout ---------------------------------------------------------------------
    "torchbricks.model_config": OldPath(
        "0.5.dev", {name: f"torchbricks.assembly:{name}" for name in ("build_model", "resolve_config", "load_config")}
    ),
    "torchbricks.model_folder": OldPath(
        "0.5.dev", {name: f"torchbricks.assembly:{name}" for name in ("save_model", "load_model")}
    ),
    "torchbricks.registry.entries": OldPath(
        "0.5.dev",
        {
            "FeatureSpec": "torchbricks.features:FeatureSpec",
            "declare_features": "torchbricks.features:declare_features",
            **{name: f"torchbricks.registry:{name}" for name in ("BrickEntry", "PackStatus", "LOCAL_PACK")},
        },
    ),
    "torchbricks.registry.hookspecs": OldPath("0.5.dev", {"hookimpl": "torchbricks.registry:hookimpl"}),
    "torchbricks.registry.registrar": OldPath("0.5.dev", {"BrickRegistrar": "torchbricks.registry:BrickRegistrar"}),
    "bag_of_bricks.segmentation": OldPath("0.5.dev", {"SegmentationHead": "bag_of_bricks.heads:SegmentationHead"}),
    "bag_of_bricks.point_detection": OldPath(
        "0.5.dev",
        {
            "PointDetectionHead": "bag_of_bricks.heads:PointDetectionHead",
            "PointDetectionLoss": "bag_of_bricks.losses:PointDetectionLoss",
            **{
                name: f"bag_of_bricks._detection:{name}"
                for name in ("centre_focal_loss", "decode_points", "render_heatmaps")
            },
        },
    ),
    "bag_of_bricks.object_detection": OldPath(
        "0.5.dev",
        {
            "BoxDetectionHead": "bag_of_bricks.heads:BoxDetectionHead",
            "BoxDetectionLoss": "bag_of_bricks.losses:BoxDetectionLoss",
            # the old module imported the last two from point_detection, so they were importable from it too
            **{
                name: f"bag_of_bricks._detection:{name}"
                for name in ("decode_boxes", "centre_focal_loss", "render_heatmaps")
            },
        },
    ),
    "bag_of_bricks.demo.shapes": OldPath("0.5.dev", _whole("bag_of_bricks.shapes")),
}
"""Old module path → what it serves."""

OLD_ATTRIBUTES: dict[str, dict[str, str]] = {
    "torchbricks.bricks": {"Tag": f"{HELPERS}:BrickGroup"},
    "torchbricks.registry": {
        "FeatureSpec": "torchbricks.features:FeatureSpec",
        "declare_features": "torchbricks.features:declare_features",
        "plugins": "torchbricks.registry:packs",
    },
    "bag_of_bricks.tasks": {"task_kind": "torchbricks.features:task_kind"},
    "torchbricks.visualization": {  # the conversions moved to their own module (0.5.dev)
        name: f"torchbricks.tensor_conversions:{name}"
        for name in (
            "batched_tensor_to_batched_np_array_channel_last",
            "batched_tensor_to_channel_last",
            "float2uint8",
            "function_composer",
            "torch_to_numpy",
            "unpack_batched_tensor_to_numpy_channel_last_arrays",
            "unpack_batched_tensor_to_pillow_images",
        )
    },
}
"""Module → old names still served by it (each with a ``FutureWarning``); the module itself is current."""

OLD_ATTRIBUTE_SINCE = {"torchbricks.bricks": "0.4.2"}
"""The release of an old attribute's module where it is not the 0.5 re-layout."""
