"""Benchmarks: tracking quality, removal quality, speed and memory, and an A/B comparison mode.

Each script runs with one command (``python -m benchmarks.<name>``) and prints a markdown table;
``docs/benchmarks.md`` holds the figures measured on the project's reference machine.
"""
