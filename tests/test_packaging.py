"""The installed package (a wheel, not the editable checkout) carries every module and built-in file."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _declared_packages() -> set[str]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return set(tomllib.load(f)["tool"]["setuptools"]["packages"])


def test_every_source_package_is_declared_in_pyproject():
    found = {
        ".".join(p.relative_to(ROOT).parts)
        for p in (ROOT / "neurosim").rglob("*")
        if p.is_dir() and p.name != "__pycache__" and any(p.glob("*.py"))
    }
    missing = found - _declared_packages()
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
    for pkg in found:
        assert (ROOT / pkg.replace(".", "/") / "__init__.py").exists(), f"{pkg} lacks __init__.py"


@pytest.mark.slow
def test_wheel_installs_builtins_that_load_outside_the_checkout(tmp_path):
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT)]
    try:
        import setuptools  # noqa: F401

        cmd.insert(4, "--no-build-isolation")
    except ImportError:
        pass
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("neurosim-*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in (ROOT / "workloads").glob("*.yaml"):
        assert f"neurosim/_workloads/{f.name}" in names
    for f in (ROOT / "hwmodels").rglob("*.yaml"):
        assert f"neurosim/_hwmodels/{f.relative_to(ROOT / 'hwmodels').as_posix()}" in names
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from neurosim.resources import builtin_names, resolve;"
        "from neurosim.estimate import estimate;"
        "assert 'sdllm-llama2-7b' in builtin_names('workload');"
        "assert resolve('energy', 'paper-45nm').is_file();"
        "hw = builtin_names('hardware'); assert not hw or resolve('hardware', hw[0]).is_file();"
        "e = estimate('sdllm-llama2-7b', convention='paper'); print(round(e.totals['energy_J'], 2), sorted(hw))"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(site)], check=True, capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.stdout.startswith("0.67"), out.stdout + out.stderr
