"""From a frame and person boxes to keypoints: the crop transforms and heatmap codec shared by
inference and training (`codec`), crops cut on the GPU (`gpu_crops`), and `PoseEstimator`."""

from core.pose import codec
from core.pose.estimator import PoseEstimator

__all__ = ["PoseEstimator", "codec"]
