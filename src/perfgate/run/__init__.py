"""Start and stop the app under test: gunicorn or a command, git worktrees."""
