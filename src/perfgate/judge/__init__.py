"""Judge a run: budgets, changes against the baseline or the base side, findings."""
