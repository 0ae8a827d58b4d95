"""The original torchbricks' public names (0.3.0, plus the 0.4.x names users import), by module and status.

Shared by the compatibility tests: what is importable from its original path, and what was dropped.
"""

from __future__ import annotations

SUPPORTED: dict[str, tuple[str, ...]] = {
    "torchbricks.bricks": (
        "BrickInterface",
        "BrickModule",
        "BrickTrainable",
        "BrickNotTrainable",
        "BrickLoss",
        "BrickMetrics",
        "BrickMetricSingle",
        "Tag",
    ),
    "torchbricks.brick_collection": ("BrickCollection",),
    "torchbricks.brick_collection_utils": ("export_bricks_as_onnx", "filter_brick_types"),
    "torchbricks.brick_group": ("MODEL", "LOSS", "METRIC", "METRIC_EXTRA", "VISUALIZATION", "BrickGroup"),
    "torchbricks.model_stage": (
        "ModelStage",
        "TRAINING",
        "VALIDATION",
        "TEST",
        "EXPORT",
        "INFERENCE",
        "DEFAULT_MODEL_STAGE_GROUPS",
    ),
    "torchbricks.brick_tags": (
        "Tag",
        "ModelStage",
        "TRAINING",
        "VALIDATION",
        "TEST",
        "EXPORT",
        "INFERENCE",
        "DEFAULT_MODEL_STAGE_TAGS",
    ),
    "torchbricks.bricks_helper": (
        "check_input_names",
        "select_inputs_by_name",
        "name_callable_outputs",
        "named_input_and_outputs_callable",
        "parse_argument_loss_output_name_indices",
    ),
    "torchbricks.collection_utils": ("flatten_dict", "unflatten"),
    "torchbricks.graph_plotter": ("create_mermaid_dag_graph",),
    "torchbricks.tensor_conversions": (
        "function_composer",
        "batched_tensor_to_channel_last",
        "batched_tensor_to_batched_np_array_channel_last",
        "unpack_batched_array_to_arrays",
        "unpack_batched_tensor_to_numpy_format",
        "unpack_batched_tensor_to_torchvision_format",
        "unpack_batched_tensor_to_pillow_images",
        "torch_to_numpy",
        "float2uint8",
    ),
    "torchbricks.bag_of_bricks.backbones": (
        "BackboneResnet",
        "resnet_to_brick",
        "create_backbone",
        "SUPPORTED_BACKBONES",
        "SUPPORTED_RESNET_BACKBONES",
    ),
    "torchbricks.bag_of_bricks.brick_visualizer": (
        "BrickPerImageVisualization",
        "UNPACK_TENSORS_TO_NDARRAYS",
        "UNPACK_NO_CONVERSION",
    ),
    "torchbricks.bag_of_bricks.custom_metrics": ("ConcatenatePredictionAndTarget",),
    "torchbricks.bag_of_bricks.image_classification": ("ImageClassifier",),
    "torchbricks.bag_of_bricks.preprocessors": ("Preprocessor",),
}

DROPPED: dict[str, tuple[str, ...]] = {
    "torchbricks.bricks": ("use_default_style",),
    "torchbricks.brick_collection": ("convert_nested_dict_to_nested_brick_collection", "resolve_relative_names"),
    "torchbricks.brick_collection_utils": ("copy_metric_bricks", "per_stage_brick_collections"),
    "torchbricks.graph_plotter": ("MermaidDagBuilder",),
    "torchbricks.bag_of_bricks.image_classification": ("create_image_classification_head",),
}

DROPPED_MODULES: dict[str, tuple[str, ...]] = {
    "torchbricks.dag": ("Dag", "Node", "NodeEdge", "brick_collection_as_dag"),
    "torchbricks.bag_of_bricks.task_utils": (
        "Task",
        "TaskInfo",
        "ImageClassificationInfo",
        "ImageSegmentationInfo",
        "get_distinct_colors",
        "distinct_colors",
    ),
}

BRICK_METHODS_DROPPED = (
    "run_now",
    "extract_losses",
    "get_module_name",
    "get_brick_type",
    "input_names_as_list",
    "output_names_as_list",
    "style",
)
"""Methods and attributes of the original's bricks that the project's bricks do not have."""
