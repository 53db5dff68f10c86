"""COCO keypoint training and evaluation on top of `core`."""
