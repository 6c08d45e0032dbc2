"""Measurement, in one place: the benchmark harness (:mod:`benchmarks.harness`: latency
with a stage breakdown, training throughput, memory; ``orchestrator bench``) and the
scripts that use it or measure the models otherwise (``benchmarks/*.py``, results in
``benchmarks/results/``). Nothing here imports the orchestrator's run machinery.
"""
