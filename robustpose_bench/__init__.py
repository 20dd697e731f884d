"""robustpose-bench: robustness benchmark for human pose estimation."""
__version__ = "0.1.0"
