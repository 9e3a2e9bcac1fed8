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
    assert "kubectl_meshdebug/pages/dr-tls-overrides-mtls.md" in names


def test_installed_wheel_explains_findings_without_the_repository(tmp_path):
    """`docs:` lines point at `explain ID`; a user has the wheel, not docs/."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "w"), str(ROOT)], check=True, capture_output=True)
    [wheel] = (tmp_path / "w").glob("kubectl_meshdebug-*.whl")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(site), str(wheel)], check=True, capture_output=True)
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    code = ("import kubectl_meshdebug, sys; from kubectl_meshdebug.cli.main import main; "
            "assert kubectl_meshdebug.__file__.startswith(sys.argv[1]), kubectl_meshdebug.__file__;"
            " sys.argv[1:] = ['explain', 'subset-no-pods']; main()")
    result = subprocess.run([sys.executable, "-c", code, str(site)], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# `subset-no-pods`: "), result.stdout[:200]
    assert "## The fix" in result.stdout


def test_sdist_carries_what_a_user_needs(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "-o",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    [sdist] = tmp_path.glob("kubectl*meshdebug-*.tar.gz")
    import tarfile

    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("LICENSE", "README.md", "setup.cfg", "pyproject.toml",
                   "kubectl_meshdebug/lab/certs/root-cert.pem", "kubectl_meshdebug/cli/main.py",
                   "setup.py", "docs/checks/subset-no-pods.md"):
        assert needed in names, needed
