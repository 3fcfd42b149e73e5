"""local/setup_env.sh and local/recipe_env/ decide without downloading anything.

The torch build follows the machine (a stand-in ``nvidia-smi`` on PATH), Python 3.11 and 3.12 both
plan, and an existing environment (RECIPE_ENV) is told exactly what it lacks. Existing environments
here are throwaway venvs without pip whose site-packages hold fake distributions and modules: the
checker reads them the way it reads a real conda env, and nothing is installed.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import packaging
import pytest

from local import recipe_env

ROOT = Path(__file__).resolve().parents[1]
FILES = [
    *(str(f.relative_to(ROOT)) for f in sorted((ROOT / "local" / "recipe_env").glob("*.py"))),
    "local/setup_env.sh",
    "requirements.txt",
    "requirements-nodeps.txt",
    "path.sh",
]
GPU_LIST = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-2f1c0e1a-0000-0000-0000-000000000000)"


def python312() -> str | None:
    found = shutil.which("python3.12")
    if found and subprocess.run([found, "-V"], capture_output=True).returncode == 0:
        return found
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    return next(iter(sorted(glob.glob(f"{pyenv}/versions/3.12*/bin/python3.12"))), None)


PY312 = python312()
PYTHONS = [pytest.param(sys.executable, id="py-current")] + (
    [pytest.param(PY312, id="py3.12")] if PY312 else []
)


@pytest.fixture
def recipe(tmp_path) -> Path:
    """The set-up files of the recipe, alone in a folder (stamps and copies land there)."""
    dst = tmp_path / "recipe"
    for rel in FILES:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dst / rel)
    shutil.copytree(ROOT / "conf" / "nltk_data", dst / "conf" / "nltk_data")
    return dst


def stand_in(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / name).write_text("#!/bin/sh\n" + script)
    (bin_dir / name).chmod(0o755)


def setup_env(recipe: Path, *args, env=None, path_prefix: Path | None = None) -> subprocess.CompletedProcess:
    run_env = {
        k: v for k, v in os.environ.items() if k not in ("TORCH_VARIANT", "TORCH_INDEX_URL", "RECIPE_ENV")
    }
    run_env.update(env or {})
    if path_prefix:
        run_env["PATH"] = f"{path_prefix}{os.pathsep}{run_env['PATH']}"
    return subprocess.run(
        ["bash", str(recipe / "local/setup_env.sh"), *args],
        capture_output=True,
        text=True,
        env=run_env,
        timeout=300,
    )


def torch_step(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("+ ") and " torch==" in line)


# ---------------------------------------------------------------------------------------------
# The decisions, called directly


@pytest.mark.parametrize(
    "version,ok", [((3, 11, 7), True), ((3, 12, 1), True), ((3, 10, 13), False), ((3, 13, 0), False)]
)
def test_python_versions(version, ok):
    why = recipe_env.python_problem(version)
    assert (why is None) == ok
    if not ok:
        assert f"Python {version[0]}.{version[1]}" in why and "3.11 or 3.12" in why


def test_variant_follows_the_gpu_unless_forced():
    gpu, none = (True, "nvidia-smi -L lists GPU 0"), (False, "no nvidia-smi on PATH")
    assert recipe_env.choose_variant("auto", gpu)[0] == "cuda"
    assert recipe_env.choose_variant("auto", none)[0] == "cpu"
    assert recipe_env.choose_variant("cpu", gpu)[0] == "cpu"
    assert recipe_env.choose_variant("cuda", none)[0] == "cuda"
    with pytest.raises(recipe_env.SetupError, match="TORCH_VARIANT='gpu'"):
        recipe_env.choose_variant("gpu", none)


def test_torch_index():
    assert recipe_env.torch_index("cpu", None) == "https://download.pytorch.org/whl/cpu"
    assert recipe_env.torch_index("cuda", None) is None  # PyPI's Linux torch is the CUDA build
    assert (
        recipe_env.torch_index("cpu", "https://mirror.example/torch-cpu")
        == "https://mirror.example/torch-cpu"
    )
    assert recipe_env.torch_index("cpu", "none") is None


@pytest.mark.parametrize("version", [(3, 11), (3, 12)])
def test_plan_is_version_independent(version):
    reqs = recipe_env.read_requirements(str(ROOT))
    plan = recipe_env.build_plan(
        "py", version, "/v", "cpu", recipe_env.CPU_INDEX_URL, "--retries 2", reqs, True
    )
    text = "\n".join(" ".join(step) for step in plan)
    other = (3, 12) if version == (3, 11) else (3, 11)
    assert f"/v/lib/python{version[0]}.{version[1]}/site-packages/torchaudio/lib/*.so" in text
    assert f"python{other[0]}.{other[1]}" not in text
    torch = next(step for step in plan if "torch==2.13.0" in step)
    assert "--no-deps" in torch and torch[torch.index("--index-url") + 1] == recipe_env.CPU_INDEX_URL


def test_requirements_say_what_an_existing_env_needs():
    reqs = {r.key: r for r in recipe_env.read_requirements(str(ROOT))}
    assert reqs["espnet"].nodeps and reqs["espnet"].env_spec == "==202511"
    assert reqs["numpy"].env_spec == ">=2.0,<2.4"
    assert reqs["torch"].env_spec == ">=2.11"
    assert reqs["scipy"].env_spec == ""  # an exact pin is .venv's choice, not a need
    assert reqs["pypinyin"].env_spec == "<=0.44.0"  # a range in the line applies everywhere
    for name in ("soundfile", "pesq", "pystoi", "onnxruntime", "speechmos", "kaldiio", "torchaudio"):
        assert name in reqs


# ---------------------------------------------------------------------------------------------
# The plan printed by `local/setup_env.sh --dry-run`


@pytest.mark.parametrize(
    "nvidia_smi,variant_env,want",
    [
        (f"echo '{GPU_LIST}'", None, "cuda"),
        ("echo 'No devices were found'; exit 6", None, "cpu"),
        (f"echo '{GPU_LIST}'", "cpu", "cpu"),
        ("echo 'No devices were found'; exit 6", "cuda", "cuda"),
    ],
    ids=["gpu-auto", "no-gpu-auto", "gpu-forced-cpu", "no-gpu-forced-cuda"],
)
def test_dry_run_follows_nvidia_smi(recipe, tmp_path, nvidia_smi, variant_env, want):
    stand_in(tmp_path / "bin", "nvidia-smi", nvidia_smi + "\n")
    env = {"TORCH_VARIANT": variant_env} if variant_env else {}
    proc = setup_env(
        recipe, "--dry-run", "--venv", str(tmp_path / "v"), env=env, path_prefix=tmp_path / "bin"
    )
    assert proc.returncode == 0, proc.stderr
    assert f"torch   {want} build" in proc.stdout
    step = torch_step(proc.stdout)
    if want == "cpu":
        assert "--index-url https://download.pytorch.org/whl/cpu" in step
    else:
        assert "--index-url" not in step
    assert "--retries 2 --timeout 15" in step
    assert f"check --strict --variant {want}" in proc.stdout
    assert not (tmp_path / "v").exists()


def test_a_venv_keeps_its_build_unless_asked(recipe, tmp_path):
    """auto decides new builds only; naming another variant rebuilds from scratch."""
    stand_in(tmp_path / "bin", "nvidia-smi", f"echo '{GPU_LIST}'\n")
    venv = tmp_path / "v"
    stand_in(venv / "bin", "python", "exit 0\n")  # a venv made before builds were recorded: CPU
    proc = setup_env(recipe, "--dry-run", "--venv", str(venv), path_prefix=tmp_path / "bin")
    assert "torch   cpu build (the build" in proc.stdout and "would be updated" in proc.stdout
    proc = setup_env(recipe, "--dry-run", "--venv", str(venv), env={"TORCH_VARIANT": "cuda"})
    assert "torch   cuda build" in proc.stdout and f"+ rm -rf {venv}\n" in proc.stdout
    (venv / recipe_env.STAMP).write_text('{"hash": "x", "python": "3.11", "variant": "cuda"}')
    proc = setup_env(recipe, "--dry-run", "--venv", str(venv))
    assert "torch   cuda build (the build" in proc.stdout and "rm -rf" not in proc.stdout
    assert "--index-url" not in torch_step(proc.stdout)


def test_dry_run_mirror_and_bad_variant(recipe, tmp_path):
    mirror = "https://pypi.mirror.example/torch/cpu"
    proc = setup_env(recipe, "--dry-run", "--venv", str(tmp_path / "v"), env={"TORCH_INDEX_URL": mirror})
    assert proc.returncode == 0, proc.stderr
    assert f"--index-url {mirror} " in torch_step(proc.stdout)
    proc = setup_env(recipe, "--dry-run", "--venv", str(tmp_path / "v"), env={"TORCH_VARIANT": "gpu"})
    assert proc.returncode == 1 and "use one of auto, cpu, cuda" in proc.stderr


@pytest.mark.skipif(PY312 is None, reason="no Python 3.12 on this machine")
def test_dry_run_with_python_312(recipe, tmp_path):
    proc = setup_env(recipe, "--dry-run", "--venv", str(tmp_path / "v"), env={"PYTHON": PY312})
    assert proc.returncode == 0, proc.stderr
    assert "(3.12)" in proc.stdout
    assert f"+ {PY312} -m venv" in proc.stdout
    assert "/lib/python3.12/site-packages/torchaudio/lib/*.so" in proc.stdout


def test_too_old_python_is_refused(recipe, tmp_path):
    stand_in(tmp_path / "bin", "python3", 'if [ "$1" = -V ]; then echo "Python 3.6.9"; exit 0; fi; exit 1\n')
    proc = setup_env(recipe, "--dry-run", env={"PYTHON": str(tmp_path / "bin" / "python3")})
    assert proc.returncode == 1
    assert "Python 3.6.9" in proc.stderr and "3.11 or 3.12" in proc.stderr


# ---------------------------------------------------------------------------------------------
# An existing environment (RECIPE_ENV)


def satisfying(req: recipe_env.Requirement) -> str:
    m = re.search(r"(==|>=|<=|~=)\s*([0-9][\w.]*)", req.env_spec or req.spec)
    return m.group(2) if m else ("0.1" if "<" in req.env_spec else "1.0")


def fake_env(root: Path, python: str, versions: dict[str, str], modules: dict[str, str]) -> Path:
    """A venv without pip holding fake distributions (metadata only) and modules, plus the real
    `packaging` the checker compares versions with."""
    env = root / "env"
    subprocess.run([python, "-m", "venv", "--without-pip", str(env)], check=True)
    site = next(env.glob("lib/python3.*/site-packages"))
    shutil.copytree(Path(packaging.__file__).parent, site / "packaging")
    for name, version in {"packaging": packaging.__version__, **versions}.items():
        dist = site / f"{name.replace('-', '_')}-{version}.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    for rel, code in modules.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(code)
    return env


def listing(env: Path) -> list[str]:
    return sorted(str(p.relative_to(env)) for p in env.rglob("*") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("python", PYTHONS)
def test_incomplete_env_is_told_what_to_install(recipe, tmp_path, python):
    env = fake_env(tmp_path, python, {"numpy": "2.5.2", "torch": "2.11.0+cu130", "espnet": "202412"}, {})
    before = listing(env)
    proc = setup_env(recipe, env={"RECIPE_ENV": str(env)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = proc.stderr
    assert "wrong    numpy 2.5.2 (needs >=2.0,<2.4)" in err
    assert "wrong    espnet 202412 (needs ==202511)" in err
    missing = {line.split()[1] for line in err.splitlines() if line.startswith("  missing  ")}
    assert {"soundfile", "pesq", "pystoi", "onnxruntime", "speechmos", "kaldiio", "torchaudio"} <= missing
    assert "torch" not in missing and "torch 2.11.0" not in err  # the site's CUDA torch is fine
    assert "packaging" not in missing and "espnet" not in missing
    cmds = [line.strip() for line in err.splitlines() if " -m pip install " in line]
    assert len(cmds) == 2, err
    assert cmds[0].startswith(f"{env}/bin/python3 -m pip install ")
    assert "numpy==2.3.5" in cmds[0] and "pesq==0.0.4" in cmds[0] and "torch==" not in cmds[0]
    assert cmds[1].endswith("-m pip install --no-deps espnet==202511")
    assert "local/setup_env.sh --install" in err
    assert listing(env) == before  # nothing was installed
    assert not (recipe / recipe_env.ENV_STAMP).exists()


TORCHAUDIO_STUB = """import os
_ext = os.path.join(os.path.dirname(__file__), "lib", "_torchaudio.abi3.so")
if os.path.exists(_ext):
    raise OSError(f"Could not load this library: {_ext}")
"""


@pytest.mark.parametrize("python", PYTHONS)
def test_complete_env_with_a_broken_torchaudio_extension(recipe, tmp_path, python):
    versions = {r.name: satisfying(r) for r in recipe_env.read_requirements(str(ROOT))}
    versions["torch"] = "2.11.0+cu130"
    modules = {
        "torch/__init__.py": "__version__ = '2.11.0+cu130'\nclass version:\n    cuda = '13.0'\n",
        "torchaudio/__init__.py": TORCHAUDIO_STUB,
        "torchaudio/lib/_torchaudio.abi3.so": "",
        "espnet2/__init__.py": "",
        "espnet2/tasks/__init__.py": "",
        "espnet2/tasks/enh.py": "",
    }
    env = fake_env(tmp_path, python, versions, modules)
    ext = next(env.glob("lib/python3.*/site-packages/torchaudio/lib/_torchaudio.abi3.so"))

    proc = setup_env(recipe, env={"RECIPE_ENV": str(env)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "torchaudio's compiled extension does not load with this torch" in proc.stderr
    assert f"rm -f {ext}" in proc.stderr
    assert " -m pip install" not in proc.stderr  # every distribution is there
    assert ext.exists()  # nothing changed without --install

    proc = setup_env(recipe, "--install", env={"RECIPE_ENV": str(env)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not ext.exists() and "every requirement met" in proc.stdout
    assert (recipe / recipe_env.ENV_STAMP).exists()
    proc = setup_env(recipe, env={"RECIPE_ENV": str(env)})
    assert proc.returncode == 0 and "unchanged since" in proc.stdout


def other_python(version: str) -> str | None:
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(f"{pyenv}/versions/{version}*/bin/python{version}"))
    return found[0] if found else shutil.which(f"python{version}")


@pytest.mark.skipif(other_python("3.8") is None, reason="no Python 3.8 on this machine")
def test_python_38_runs_the_setup_and_is_refused(recipe, tmp_path):
    """The set-up runs before any environment: the oldest Python setup_env.sh lets in imports it."""
    proc = setup_env(recipe, "--dry-run", "--venv", str(tmp_path / "v"), env={"PYTHON": other_python("3.8")})
    assert proc.returncode == 1
    assert "Python 3.8 can't run the recipe: it needs Python 3.11 or 3.12" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_stamps_cover_every_module_of_the_package(recipe):
    before = recipe_env.files_hash(str(recipe))
    cli = recipe / "local" / "recipe_env" / "cli.py"
    cli.write_text(cli.read_text() + "\n")
    assert recipe_env.files_hash(str(recipe)) != before


@pytest.mark.skipif(other_python("3.10") is None, reason="no Python 3.10 on this machine")
def test_env_with_another_python_is_refused(recipe, tmp_path):
    env = fake_env(tmp_path, other_python("3.10"), {}, {})
    proc = setup_env(recipe, "--install", env={"RECIPE_ENV": str(env)})
    assert proc.returncode == 1
    assert "Python 3.10 can't run the recipe: it needs Python 3.11 or 3.12" in proc.stderr
    assert "pip install" not in proc.stderr  # installing would not help


def test_env_without_python_is_refused(recipe, tmp_path):
    proc = setup_env(recipe, env={"RECIPE_ENV": str(tmp_path)})
    assert proc.returncode == 1 and "has no bin/python3" in proc.stderr


def test_the_recipe_env_passes_as_an_existing_env(recipe):
    """The real environment the tests run in, judged as an existing one (imports included)."""
    proc = setup_env(recipe, "--dry-run", env={"RECIPE_ENV": sys.prefix})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "every requirement met, espnet2.tasks.enh imports" in proc.stdout


def test_path_sh_uses_recipe_env(recipe, tmp_path):
    env = tmp_path / "env"
    stand_in(env / "bin", "python3", "echo from-recipe-env\n")
    script = f". {recipe}/path.sh && command -v python3 && python3"
    out = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "RECIPE_ENV": str(env)},
    ).stdout.split()
    assert out == [str(env / "bin" / "python3"), "from-recipe-env"]
