"""Benchmarks: one command each (`python -m bench.<name> --help`), results in bench/results/."""
