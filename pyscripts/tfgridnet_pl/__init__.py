"""TF-GridNet with progressive learning (PL) for speech enhancement: the recipe's importable library.

Sub-packages, by what they hold (each imports only from this package, ESPnet and third-party code):

    model/    the PL separator, its loss wrapper, the hybrid and PESQ criteria, complexity, checkpoints
    data/     DNS5 layout, the simulation config, mixing (fixed sets and on the fly in training)
    scoring/  PESQ, STOI, SI-SNR, offline DNSMOS, and the resumable per-utterance score store
    deploy/   packed models, the ONNX core, chunked processing of long recordings
    bench/    speed benchmarks (pyscripts/benchmark.py runs them), apart from the core
    fileio.py atomic writes and Kaldi-style lists, used by all of them
    register.py  importing it registers our classes in ESPnet's enhancement task

Entry points live beside the package in ``pyscripts/`` and stage helpers in ``local/``; ``path.sh``
puts ``pyscripts`` on ``PYTHONPATH``, so ``import tfgridnet_pl`` works from both and from the tests.
Nothing here imports from ``local/`` or from the entry points.
"""
