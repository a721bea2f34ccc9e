"""Code that runs inside the measured app's own workers: standard library only."""
