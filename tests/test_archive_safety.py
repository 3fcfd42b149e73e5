"""Model archives are not trusted (tfgridnet_pl/deploy/archive.py, packed_model.read_pack / unpack).

Hostile archives are crafted here: tar headers that declare huge sizes without the data, links,
devices, ``..`` names, oversized extension headers. Archives of the real format with fake weights
(``fake_pack``) need no model; the config/weights mismatch tests repack the tiny trained model.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import tarfile
import time
import tracemalloc
from pathlib import Path

import pytest
import torch
import yaml

from tfgridnet_pl.deploy import packed_model as pm
from tfgridnet_pl.deploy.archive import MIB, Limits

GIB = 1 << 30


def craft(path: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """A .tar.gz of raw headers: ``data`` None writes the header alone (a size declared, no data)."""
    raw = io.BytesIO()
    for info, data in entries:
        raw.write(info.tobuf(format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape"))
        if data is not None:
            raw.write(data + bytes(-len(data) % tarfile.BLOCKSIZE))
    raw.write(bytes(2 * tarfile.BLOCKSIZE))
    path.write_bytes(gzip.compress(raw.getvalue()))
    return path


def member(name: str, size: int = 0, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.type, info.linkname = size, kind, linkname
    return info


def state_bytes(state) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def fake_pack(path: Path, info: dict | None = None, config: dict | None = None, weights: bytes | None = None):
    """An archive of the packed format with a fake model (read_pack never builds it)."""
    section = {"format": pm.FORMAT, "format_version": pm.FORMAT_VERSION, "fs": 16000, "tag": "fake"}
    meta = {"timestamp": 0, pm.SECTION: {**section, **(info or {})}}
    weights = state_bytes({"w": torch.zeros(2)}) if weights is None else weights
    pm.write_pack(path, meta, config or {"separator": "tfgridnet_pl"}, weights, {})
    return path


def with_extra_members(src: Path, dst: Path, extra: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """``src``'s members (as they are) followed by ``extra``."""
    with tarfile.open(src) as tar:
        entries = [(info, tar.extractfile(info).read()) for info in tar]
    return craft(dst, entries + extra)


# -- sizes ------------------------------------------------------------------------------------------------
def test_members_declaring_huge_sizes_are_refused_before_reading(tmp_path):
    """Two members declaring 1.5 GiB each (the data is not even there): refused on the first header."""
    bomb = craft(tmp_path / "bomb.tar.gz", [(member(pm.WEIGHTS, 3 * GIB // 2), None)] * 2)
    start = time.perf_counter()
    with pytest.raises(
        pm.PackedModelError, match=r"model/model.pth declares 1610612736 bytes.*512 MiB limit"
    ):
        pm.read_pack(bomb)
    assert time.perf_counter() - start < 5


def test_a_member_over_the_cap_is_never_read_into_memory(tmp_path):
    """A real 64 MiB member against a cap of 8 MiB: refused with well under 8 MiB allocated."""
    path = tmp_path / "big.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        tar.addfile(member(pm.WEIGHTS, 64 * MIB), io.BytesIO(bytes(64 * MIB)))
    tracemalloc.start()
    try:
        with pytest.raises(pm.PackedModelError, match="over the 8 MiB limit"):
            pm.read_pack(path, Limits(member_bytes=8 * MIB))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MIB


def test_total_size_member_count_and_yaml_size_are_capped(tmp_path):
    three = craft(tmp_path / "three.tar.gz", [(member(f"m{i}", 3 * MIB), bytes(3 * MIB)) for i in range(3)])
    with pytest.raises(pm.PackedModelError, match="more than 8 MiB in all"):
        pm.read_pack(three, Limits(member_bytes=4 * MIB, total_bytes=8 * MIB))
    many = craft(tmp_path / "many.tar.gz", [(member(f"m{i}"), b"") for i in range(100)])
    with pytest.raises(pm.PackedModelError, match="more than 64 members"):
        pm.read_pack(many)
    yaml_bomb = craft(tmp_path / "yaml.tar.gz", [(member(pm.META, 5 * MIB), None)])
    with pytest.raises(pm.PackedModelError, match="meta.yaml declares .* over the 4 MiB limit"):
        pm.read_pack(yaml_bomb)


# -- member kinds and names ----------------------------------------------------------------------------
HOSTILE = {
    "symbolic link": (
        [(member("model/model.pth", 0, tarfile.SYMTYPE, "/etc/passwd"), None)],
        "symbolic link",
    ),
    "hard link": ([(member("model/model.pth", 0, tarfile.LNKTYPE, "meta.yaml"), None)], "hard link"),
    "device": ([(member("dev", 0, tarfile.CHRTYPE), None)], "is a device"),
    "FIFO": ([(member("fifo", 0, tarfile.FIFOTYPE), None)], "is a FIFO"),
    "absolute name": ([(member("/tmp/evil", 4), b"evil")], "unsafe member name"),
    "dot-dot name": ([(member("model/../../evil", 4), b"evil")], "unsafe member name"),
    "name given twice": ([(member("meta.yaml", 2), b"{}")] * 2, "appears twice"),
    "huge pax header": ([(member("pax", GIB, tarfile.XHDTYPE), None)], "extension header declares"),
    "huge GNU long name": (
        [(member("long", GIB, tarfile.GNUTYPE_LONGNAME), None)],
        "extension header declares",
    ),
    "sparse member": ([(member("sparse", 10, tarfile.GNUTYPE_SPARSE), None)], "sparse"),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_links_devices_unsafe_names_and_odd_headers_are_refused(tmp_path, case):
    entries, message = HOSTILE[case]
    archive = craft(tmp_path / "hostile.tar.gz", entries)
    with pytest.raises(pm.PackedModelError, match=message):
        pm.read_pack(archive)
    with pytest.raises(pm.PackedModelError, match=message):
        pm.unpack(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not Path("/tmp/evil").exists()


def test_a_hostile_member_after_a_valid_pack_is_refused(tmp_path):
    """The checks hold for every member, not only the first: a valid pack plus one symbolic link."""
    good = fake_pack(tmp_path / "good.tar.gz")
    assert pm.read_pack(good).info["tag"] == "fake"
    bad = with_extra_members(good, tmp_path / "bad.tar.gz", [(member("x", 0, tarfile.SYMTYPE, "/"), None)])
    with pytest.raises(pm.PackedModelError, match="'x' is a symbolic link"):
        pm.read_pack(bad)


def test_unlisted_members_are_hashed_as_they_stream_not_kept(tmp_path):
    good = fake_pack(tmp_path / "good.tar.gz")
    extra = with_extra_members(
        good, tmp_path / "extra.tar.gz", [(member("notes.bin", 3 * MIB), bytes(3 * MIB))]
    )
    pack = pm.read_pack(extra)
    assert "notes.bin" not in pack.members and set(pack.members) >= {pm.META, pm.CONFIG, pm.WEIGHTS}


def test_the_model_file_must_be_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "fifo.tar.gz")
    with pytest.raises(pm.PackedModelError, match="not a regular file"):  # never opened: no hang
        pm.read_pack(tmp_path / "fifo.tar.gz")
    with pytest.raises(pm.PackedModelError, match="a folder"):
        pm.read_pack(tmp_path)


# -- meta.yaml and config structure ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "info,config,message",
    [
        ({"fs": "sixteen k"}, None, "fs 'sixteen k' is not a sampling rate"),
        ({"fs": 10**9}, None, "is not a sampling rate"),
        ({"format_version": "one"}, None, "format_version 'one' is not a number"),
        (None, {"no_separator": 1}, "not an ESPnet enhancement config"),
    ],
)
def test_meta_and_config_of_the_wrong_structure_are_named(tmp_path, info, config, message):
    archive = fake_pack(tmp_path / "x.tar.gz", info, config)
    with pytest.raises(pm.PackedModelError, match=message):
        pm.read_pack(archive)


def test_weights_that_are_not_a_state_dict_are_named(tmp_path):
    archive = fake_pack(tmp_path / "x.tar.gz", weights=state_bytes([1, 2, 3]))
    with pytest.raises(pm.PackedModelError, match=r"x.tar.gz: model/model.pth is not a state_dict"):
        pm.read_pack(archive).state_dict()


# -- unpack ------------------------------------------------------------------------------------------------
def test_unpack_extracts_verified_members_and_never_through_a_link(tmp_path, caplog):
    import enhance

    archive = fake_pack(tmp_path / "good.tar.gz")
    files = pm.unpack(archive, tmp_path / "out")
    assert yaml.safe_load(Path(files["train_config"]).read_text())["separator"] == "tfgridnet_pl"
    assert Path(files["model_file"]).read_bytes() == pm.read_pack(archive).weights
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "trap").mkdir()
    (tmp_path / "trap" / "model").symlink_to(outside)  # a link already in the target folder
    with pytest.raises(pm.PackedModelError, match="not a folder"):
        pm.unpack(archive, tmp_path / "trap")
    assert not any(outside.iterdir())
    with caplog.at_level(logging.INFO):
        assert enhance.main(["--unpack", str(archive), str(tmp_path / "cli")]) == 0
        assert (tmp_path / "cli" / pm.WEIGHTS).is_file()
        evil = craft(tmp_path / "evil.tar.gz", [(member("../evil", 4), b"evil")])
        assert enhance.main(["--unpack", str(evil), str(tmp_path / "cli2")]) == 2
    assert "unsafe member name '../evil'" in caplog.text and not (tmp_path / "evil").exists()


# -- config and weights that do not match the model (the tiny trained model) ------------------------------
def mismatch_cases(pack: pm.Pack) -> dict[str, tuple[dict, dict, str]]:
    """name -> (config, state_dict, expected message) of a pack whose config and weights disagree."""
    config, state = pack.config, pack.state_dict()
    bigger = yaml.safe_load(yaml.safe_dump(config))
    bigger["separator_conf"]["emb_dim"] = 16
    missing = dict(state)
    del missing[sorted(missing)[-1]]
    return {
        "unknown separator": ({**config, "separator": "no_such_net"}, state, "--separator must be one of"),
        "other shapes": (bigger, state, "size mismatch"),
        "missing key": (config, missing, "Missing key"),
        "not a TF-GridNet": (
            {**config, "separator": "rnn", "separator_conf": {}},
            state,
            "do not make a model",
        ),
        "unknown option": (
            {**config, "separator_conf": {**config["separator_conf"], "no_such_option": 1}},
            state,
            "no_such_option",
        ),
    }


@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_config_or_weights_that_do_not_match_the_model_are_named(tmp_path_factory, tmp_path, caplog):
    import enhance
    from test_pack_enhance import tiny_pack

    pack = pm.read_pack(tiny_pack(tmp_path_factory, onnx=False))
    import soundfile as sf

    sf.write(tmp_path / "a.wav", torch.zeros(1600).numpy(), 16000)
    for name, (config, state, message) in mismatch_cases(pack).items():
        archive = tmp_path / f"{name.replace(' ', '_')}.tar.gz"
        pm.write_pack(archive, pack.meta, config, state_bytes(state), {})
        with pytest.raises(pm.PackedModelError) as err:
            pm.Enhancer(archive)
        assert str(archive) in str(err.value) and message in str(err.value), (name, err.value)
        caplog.clear()
        with caplog.at_level(logging.INFO):
            code = enhance.main(
                ["--model", str(archive), str(tmp_path / "a.wav"), "--out-dir", str(tmp_path / "o")]
            )
        assert code == 2 and message in caplog.text and "Traceback" not in caplog.text, name
    assert not (tmp_path / "o").exists()
