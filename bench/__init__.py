"""Performance, measured as ratios taken in one run on one machine."""
