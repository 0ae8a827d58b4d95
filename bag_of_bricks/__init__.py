"""bag_of_bricks: the standard brick pack of torchbricks (preprocessors, backbones, heads, ...)."""
