"""TF-GridNet progressive-learning speech enhancement: the recipe's importable code.

Entry points live beside this package in ``pyscripts/``; ``path.sh`` puts ``pyscripts`` on
``PYTHONPATH`` so that ``import tfgridnet_pl`` works from ``run.sh``, ``local/`` and the tests.
"""
