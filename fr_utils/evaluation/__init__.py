"""Measuring and improving the model: metrics (pure numpy), datasets, reports, LFW, training."""
