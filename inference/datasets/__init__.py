"""Data sets the ML core trains and benchmarks on (no Django)."""
