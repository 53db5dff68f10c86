"""Computation: model, codec, runtime, detectors, tracker, video and pipeline. No Qt here."""
