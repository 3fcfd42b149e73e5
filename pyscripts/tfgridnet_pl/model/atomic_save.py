"""``torch.save`` to a file path made atomic, for ESPnet's trainer.

ESPnet's trainer writes ``checkpoint.pth`` and ``<N>epoch.pth`` in place (``torch.save(obj, path)``),
so a run killed while saving leaves a truncated checkpoint that ``--resume`` cannot load. ``install()``
replaces ``torch.save`` in the training process by a version that writes a path to a temporary name
in the same folder and renames it; file objects and buffers are passed through unchanged.
"""

from __future__ import annotations

import functools
import os

import torch

from tfgridnet_pl.fileio import atomic_path

_original_save = torch.save


@functools.wraps(_original_save)
def atomic_save(obj, f, *args, **kwargs):
    if isinstance(f, (str, os.PathLike)):
        with atomic_path(f, suffix=".pth") as tmp:
            _original_save(obj, tmp, *args, **kwargs)
        return None
    return _original_save(obj, f, *args, **kwargs)


def install() -> None:
    """Make every ``torch.save(obj, path)`` of this process atomic (idempotent)."""
    torch.save = atomic_save
