"""pip packaging: the wheel puts both console scripts on PATH and carries the lab's files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_wheel_has_both_scripts_and_the_lab_certificates(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    [wheel] = tmp_path.glob("kubectl_meshdebug-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        entry_points = next(zf.read(n).decode() for n in names
                            if n.endswith("entry_points.txt"))
        metadata = next(zf.read(n).decode() for n in names if n.endswith("METADATA"))
    assert "kubectl-meshdebug = kubectl_meshdebug.cli.main:main" in entry_points
    assert "kubectl_complete-meshdebug = kubectl_meshdebug.cli.main:complete" in entry_points
    assert "kubectl_meshdebug/lab/certs/root-cert.pem" in names
    assert not [n for n in names if n.startswith("tests/")]
    assert "Provides-Extra: demo" in metadata and "Requires-Dist: kubernetes<36,>=29" in metadata


def test_sdist_carries_what_a_user_needs(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "-o",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    [sdist] = tmp_path.glob("kubectl*meshdebug-*.tar.gz")
    import tarfile

    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("LICENSE", "README.md", "setup.cfg", "pyproject.toml",
                   "kubectl_meshdebug/lab/certs/root-cert.pem", "kubectl_meshdebug/cli/main.py"):
        assert needed in names, needed
