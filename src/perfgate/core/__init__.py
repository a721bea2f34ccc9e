"""The check flow every mode and shell shares: measure, judge, diagnose, write."""
