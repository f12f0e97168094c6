"""The benchmark and reliability harness (issue 7): `make bench`, see docs/BENCHMARKS.md.

As a Django app (label `bench`, installed only by `bench.settings`) it adds the two baselines
(a framework floor and a naive receiver) and an optional handler whose effect rows let the
reliability runs count how often each event was applied.
"""
