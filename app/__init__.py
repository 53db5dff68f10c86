"""The PyQt6 desktop program; the only package that imports Qt."""

APP_NAME = "Attention-HRNet Pose Tracker"
