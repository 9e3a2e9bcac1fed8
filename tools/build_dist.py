"""Build the krew artifact: a single-file zipapp, in a reproducible .tar.gz, and rewrite
plugin.yaml's version, uri and sha256 from it.

The zipapp carries this package and its runtime dependencies as they are installed in the
running environment (no network), without native code (PyYAML and charset-normalizer fall
back to their pure-Python paths), so one file runs on every CPython the caveats name.
Entries are sorted and dated 1980-01-01 and the tar and gzip headers carry no time or
owner, so the same inputs give the same bytes.

    python tools/build_dist.py [--out DIR] [--manifest plugin.yaml]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.metadata as md
import io
import re
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ["click", "kubernetes", "jsonpath-ng", "tabulate", "PyYAML", "prometheus-client",
           "asn1crypto"]
NATIVE = (".so", ".pyd", ".dylib", ".dll")
EPOCH = (1980, 1, 1, 0, 0, 0)
PYZ = "kubectl-meshdebug.pyz"
ARCHIVE = "kubectl-meshdebug.tar.gz"
HOMEPAGE = "https://github.com/kubectl-meshdebug/kubectl-meshdebug"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_distributions() -> list[md.Distribution]:
    """The runtime requirements and everything they need, without extras."""
    seen: dict[str, md.Distribution] = {}
    todo = [(name, False) for name in RUNTIME]
    while todo:
        name, conditional = todo.pop()
        name = _norm(name)
        if name in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            if conditional:  # a requirement for another Python or platform
                continue
            raise SystemExit(f"error: {name} is not installed here; build with `make dist` "
                             "(a fresh venv with requirements/dist.txt)") from None
        seen[name] = dist
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            marker_ok = True
            if ";" in req:
                try:
                    from packaging.markers import Marker
                except ImportError:  # without packaging, include conditional requirements
                    Marker = None  # noqa: N806
                marker_ok = Marker is None or Marker(req.split(";", 1)[1]).evaluate()
            if marker_ok:
                todo.append((re.split(r"[ ;<>=!~\[(]", req.strip(), maxsplit=1)[0], ";" in req))
    return sorted(seen.values(), key=lambda d: _norm(d.metadata["Name"]))


def dependency_files(dist: md.Distribution) -> list[tuple[str, bytes]]:
    out = []
    for file in dist.files or []:
        path = str(file)
        if path.startswith("..") or "__pycache__" in path or path.endswith((".pyc",) + NATIVE):
            continue
        if ".dist-info/" in path and not path.endswith(("METADATA", "LICENSE", "LICENSE.txt",
                                                         "top_level.txt", "entry_points.txt")):
            continue
        located = Path(str(file.locate()))
        if located.is_file():
            out.append((path, located.read_bytes()))
    return out


def own_files() -> list[tuple[str, bytes]]:
    out = []
    for path in sorted((ROOT / "kubectl_meshdebug").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            out.append((str(path.relative_to(ROOT)), path.read_bytes()))
    # The finding pages, for `explain` (setup.py ships them in the wheel the same way).
    for page in sorted((ROOT / "docs" / "checks").glob("*.md")):
        out.append((f"kubectl_meshdebug/pages/{page.name}", page.read_bytes()))
    return out


def requires_python(dists: list[md.Distribution]) -> str:
    """The newest minimum any bundled distribution declares (caveats promise that)."""
    best = (3, 9)
    for dist in dists:
        spec = dist.metadata.get("Requires-Python") or ""
        for match in re.finditer(r">=\s*(\d+)\.(\d+)", spec):
            best = max(best, (int(match.group(1)), int(match.group(2))))
    return f"{best[0]}.{best[1]}"


def bootstrap(build_id: str, python: str) -> bytes:
    """tools/zipapp_main.py with the build id and the Python floor written in."""
    text = (ROOT / "tools" / "zipapp_main.py").read_text()
    major, minor = python.split(".")
    text = text.replace('BUILD_ID = "@BUILD_ID@"', f'BUILD_ID = "{build_id}"', 1)
    text = re.sub(r"^REQUIRES = \(\d+, \d+\)$", f"REQUIRES = ({major}, {minor})", text,
                  count=1, flags=re.M)
    return text.encode()


def _zip(entries: list[tuple[str, bytes]], compress: int, prefix: bytes = b"") -> bytes:
    """A zip of ENTRIES after PREFIX, sorted and dated 1980-01-01 so that the same inputs
    give the same bytes."""
    buffer = io.BytesIO()
    buffer.write(prefix)
    with zipfile.ZipFile(buffer, "w", compress) as zf:
        for name, data in sorted(entries):
            info = zipfile.ZipInfo(name, EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = compress
            zf.writestr(info, data)
    return buffer.getvalue()


def build_pyz(files: list[tuple[str, bytes]], build_id: str, python: str) -> bytes:
    """The zipapp: __main__.py and the packages as one stored member, lib.zip (see
    tools/zipapp_main.py: a short directory is a faster start)."""
    packages = _zip([(f"lib/{name}", data) for name, data in files], zipfile.ZIP_DEFLATED)
    return _zip([("__main__.py", bootstrap(build_id, python)), ("lib.zip", packages)],
                zipfile.ZIP_STORED, prefix=b"#!/usr/bin/env python3\n")


def build_tar(pyz: bytes) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data, mode in ((PYZ, pyz, 0o755),
                                 ("LICENSE", (ROOT / "LICENSE").read_bytes(), 0o644)):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def manifest(version: str, sha256: str, python: str) -> str:
    return f"""apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: meshdebug
spec:
  version: v{version}
  homepage: {HOMEPAGE}
  shortDescription: Debug Istio sidecars and 503s in one command
  description: |
    kubectl-meshdebug reads an Istio sidecar's Envoy admin API (port 15000) through
    kubectl exec, joins what it finds to your Services, DestinationRules,
    VirtualServices and PeerAuthentications, and says what is wrong and how to fix it:
    why-503, audit, describe, check-inject, sync, capture, log levels, stats, clusters,
    routes, listeners, endpoints and config dumps.
  caveats: |
    Needs python3 >= {python} on PATH.
    krew installs the plugin but not its shell completion; see
    {HOMEPAGE}/blob/main/docs/completion.md
  platforms:
  - selector:
      matchExpressions:
      - {{key: os, operator: In, values: [linux, darwin]}}
    uri: {HOMEPAGE}/releases/download/v{version}/{ARCHIVE}
    sha256: "{sha256}"
    files:
    - from: {PYZ}
      to: .
    - from: LICENSE
      to: .
    bin: {PYZ}
"""


def build(out_dir: Path, manifest_path: Path | None) -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from kubectl_meshdebug import __version__

    dists = runtime_distributions()
    files = own_files()
    for dist in dists:
        files += dependency_files(dist)
    digest = hashlib.sha256()
    for name, data in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    build_id = f"{__version__}-{digest.hexdigest()[:16]}"
    python = requires_python(dists)
    pyz = build_pyz(files, build_id, python)
    archive = build_tar(pyz)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / PYZ).write_bytes(pyz)
    (out_dir / PYZ).chmod(0o755)
    (out_dir / ARCHIVE).write_bytes(archive)
    sha256 = hashlib.sha256(archive).hexdigest()
    text = manifest(__version__, sha256, python)
    (out_dir / "plugin.yaml").write_text(text)
    if manifest_path is not None:
        manifest_path.write_text(text)
    return {"archive": str(out_dir / ARCHIVE), "pyz": str(out_dir / PYZ), "sha256": sha256,
            "build_id": build_id, "python": python,
            "packages": ", ".join(f"{d.metadata['Name']} {d.version}" for d in dists)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "dist"), help="output folder")
    parser.add_argument("--manifest", default=str(ROOT / "plugin.yaml"),
                        help="plugin.yaml to rewrite ('' to leave it alone)")
    args = parser.parse_args()
    result = build(Path(args.out), Path(args.manifest) if args.manifest else None)
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
