"""tfgridnet_pl.model.atomic_save: ESPnet's in-place torch.save of checkpoints made atomic."""

from __future__ import annotations

import io

import pytest
import torch

from tfgridnet_pl.model import atomic_save


class Exploding:
    """Pickles half-way, then fails: what a kill in the middle of torch.save leaves behind."""

    def __reduce__(self):
        raise RuntimeError("killed while saving")


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "save", torch.save)  # undo install() after the test
    atomic_save.install()
    path = tmp_path / "checkpoint.pth"
    torch.save({"epoch": 1, "w": torch.ones(1000)}, path)
    with pytest.raises(RuntimeError, match="killed while saving"):
        torch.save({"epoch": 2, "w": torch.zeros(1000), "x": Exploding()}, path)
    assert torch.load(path)["epoch"] == 1  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pth"]  # no temporary left


def test_file_objects_pass_through(monkeypatch):
    monkeypatch.setattr(torch, "save", torch.save)
    atomic_save.install()
    buf = io.BytesIO()
    torch.save({"a": torch.arange(3)}, buf)
    buf.seek(0)
    assert torch.equal(torch.load(buf)["a"], torch.arange(3))
