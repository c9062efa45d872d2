"""Face finding, tracking and THE alignment shared with training."""
