"""Command-line subcommands of `run.py`; each module exposes `main(argv) -> int`."""
