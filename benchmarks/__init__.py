"""sqlnb's benchmark suite: `python -m benchmarks [--quick] [--json PATH] [--only CASE ...]`.

Each case runs its contenders in one process, interleaved (one sample of each in turn, for every
repeat), and reports the median, min and max of each, its ratio to a baseline measured in the same
run, and the targets it checks (PASS/MISS). See benchmarks/README.md.
"""
