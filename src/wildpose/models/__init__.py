"""Neural network modules.  Each takes normalized 2D keypoints (see ``wildpose.normalization``)."""
