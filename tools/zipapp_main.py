"""Bootstrap of the single-file build (copied into the zipapp as __main__.py).

A plain zipapp recompiles every module on every start, because it cannot write .pyc files
into itself: seconds per command with the kubernetes client. So the first run extracts the
bundled packages to a cache folder keyed by the build id, and every later run imports from
there with the interpreter's normal bytecode cache.
"""

import os
import shutil
import sys
import tempfile
import zipfile

LIB = "lib/"


def _cache_root() -> str:
    base = os.environ.get("KUBECTL_MESHDEBUG_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "kubectl-meshdebug")
    return base


def _extract(archive: str, build_id: str) -> str:
    target = os.path.join(_cache_root(), build_id)
    if os.path.exists(os.path.join(target, ".complete")):
        return target
    os.makedirs(_cache_root(), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{build_id}-", dir=_cache_root())
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            if name.startswith(LIB) and not name.endswith("/"):
                zf.extract(name, tmp)
    open(os.path.join(tmp, LIB, ".complete"), "w").close()
    try:
        os.rename(os.path.join(tmp, LIB), target)
    except OSError:  # another process won the race: use its copy
        pass
    shutil.rmtree(tmp, ignore_errors=True)
    return target


def main() -> None:
    archive = os.path.dirname(os.path.abspath(__file__))
    with zipfile.ZipFile(archive) as zf:
        build_id = zf.read("BUILD_ID").decode().strip()
    try:
        sys.path.insert(0, _extract(archive, build_id))
    except OSError:  # read-only home: run from the archive, slower but working
        sys.path.insert(0, os.path.join(archive, LIB))
    from kubectl_meshdebug.cli.main import main as run

    run()


if __name__ == "__main__":
    main()
