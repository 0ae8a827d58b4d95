"""The pack's names that moved in 0.5, by old module: each old module serves its names from here with a
``FutureWarning`` for one release (see ``torchbricks._deprecation``); the next release deletes them.

Example:
    >>> NEW_PLACES["bag_of_bricks.segmentation"]
    {'SegmentationHead': 'bag_of_bricks.heads'}
"""

__all__ = ["NEW_PLACES"]

NEW_PLACES: dict[str, dict[str, str]] = {
    "bag_of_bricks.segmentation": {"SegmentationHead": "bag_of_bricks.heads"},
    "bag_of_bricks.point_detection": {
        "PointDetectionHead": "bag_of_bricks.heads",
        "PointDetectionLoss": "bag_of_bricks.losses",
        "centre_focal_loss": "bag_of_bricks._detection",
        "decode_points": "bag_of_bricks._detection",
        "render_heatmaps": "bag_of_bricks._detection",
    },
    "bag_of_bricks.object_detection": {
        "BoxDetectionHead": "bag_of_bricks.heads",
        "BoxDetectionLoss": "bag_of_bricks.losses",
        "decode_boxes": "bag_of_bricks._detection",
        # the old module imported these from point_detection, so they were importable from it too
        "centre_focal_loss": "bag_of_bricks._detection",
        "render_heatmaps": "bag_of_bricks._detection",
    },
    "bag_of_bricks.tasks": {"task_kind": "torchbricks.features"},
}
