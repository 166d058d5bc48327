"""CV print-failure monitor: frames, detector (pure), monitor, synthetic data set."""
