"""The command line: parse arguments, call the core, print, map errors to exit codes."""
