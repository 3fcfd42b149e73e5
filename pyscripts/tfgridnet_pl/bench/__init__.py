"""Speed benchmarks, one module per group of sections; ``pyscripts/benchmark.py`` runs them."""
