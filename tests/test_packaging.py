"""The project installs as a real wheel that carries its knowledge folders."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True)
    return next(out.glob("spacecoop-*.whl"))


def test_wheel_carries_ontology_data_shapes_and_queries(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for folder in ("ontology", "data", "shapes", "queries"):
        local = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*") if p.is_file())
        assert local, f"{folder}/ is empty"
        for rel in local:
            assert f"spacecoop/bundled/{rel}" in names, f"{rel} missing from the wheel"


def test_installed_wheel_validates_from_any_directory(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Only the wheel's copy of the package is importable: the checkout is not on the path.
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = subprocess.run([sys.executable, "-c", "import spacecoop.config as c; print(c.ROOT)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == str(target / "spacecoop" / "bundled")
    result = subprocess.run([sys.executable, "-m", "spacecoop", "validate"], cwd=elsewhere, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
