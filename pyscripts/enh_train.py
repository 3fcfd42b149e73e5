#!/usr/bin/env python3
"""ESPnet's enhancement trainer (``espnet2.bin.enh_train``) with the recipe's classes registered.

Same command line as ``python -m espnet2.bin.enh_train``; importing ``tfgridnet_pl.register`` first adds
the ``tfgridnet_pl`` separator, the ``progressive`` loss wrapper and the ``hybrid`` criterion to
ESPnet's enhancement task, so the YAMLs in ``conf/tuning/`` load.

    python3 pyscripts/enh_train.py --config conf/tuning/train_enh_tfgridnet_pl_small.yaml ...
"""

from espnet2.bin.enh_train import main

import tfgridnet_pl.register  # noqa: F401  (registers at import, also in spawned DDP workers)
from tfgridnet_pl.model.atomic_save import install as atomic_checkpoints

# checkpoint.pth and <N>epoch.pth written to a temporary name and renamed: a kill while saving
# leaves the previous checkpoint intact, and --resume goes on from it.
atomic_checkpoints()

if __name__ == "__main__":
    main()
