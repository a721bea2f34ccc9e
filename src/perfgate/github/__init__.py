"""GitHub: the Action's shell, the runner protocol, the REST client, the PR comment."""
