"""Programs the benchmarks run in fresh processes (started by benchmarks.subproc)."""
