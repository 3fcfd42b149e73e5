#!/usr/bin/env python3
"""ESPnet's enhancement inference (``espnet2.bin.enh_inference``) with the recipe's classes registered.

Same command line as ``python -m espnet2.bin.enh_inference``. Pass ``--fs 16000`` (ESPnet's default
of 8000 would go into the output WAV headers). A PL model decodes with its final head only.

    python3 pyscripts/enh_inference.py --config conf/decode.yaml --fs 16000 \
        --train_config exp/enh_pl/config.yaml --model_file exp/enh_pl/valid.loss.best.pth \
        --data_path_and_name_and_type data/test/wav.scp,speech_mix,sound --output_dir out
"""

from espnet2.bin.enh_inference import main

import tfgridnet_pl.register  # noqa: F401  (registers at import)

if __name__ == "__main__":
    main()
