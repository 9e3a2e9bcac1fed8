"""Bootstrap of the single-file build (copied into the zipapp as __main__.py).

A plain zipapp recompiles every module on every start, because it cannot write .pyc files
into itself: seconds per command with the kubernetes client. So the first run extracts the
bundled packages to a cache folder keyed by the build id, compiles them there once (so
that PYTHONDONTWRITEBYTECODE, common in containers, does not mean compiling on every run),
and every later run only puts that folder on sys.path: no zip is opened, nothing but os
and sys is imported before the command itself.

The build writes BUILD_ID and REQUIRES below. This file must parse on old Pythons, so
that one on an unsupported version says so in one line instead of a SyntaxError.
"""

import os
import sys

BUILD_ID = "@BUILD_ID@"
REQUIRES = (3, 11)
LIB = "lib/"


def _cache_root():
    return os.environ.get("KUBECTL_MESHDEBUG_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "kubectl-meshdebug")


def _extract(archive, target):
    import compileall
    import shutil
    import tempfile
    import zipfile

    os.makedirs(_cache_root(), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + BUILD_ID + "-", dir=_cache_root())
    try:
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if name.startswith(LIB) and not name.endswith("/"):
                    zf.extract(name, tmp)
        compileall.compile_dir(os.path.join(tmp, LIB), quiet=2, workers=1)
        open(os.path.join(tmp, LIB, ".complete"), "w").close()
        try:
            os.rename(os.path.join(tmp, LIB), target)
        except OSError:  # another process won the race: use its copy
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if sys.version_info < REQUIRES:
        # %-formatting on purpose: this line must run on any Python 3
        sys.stderr.write("error: kubectl-meshdebug needs python3 >= %d.%d; %s is %s\n" % (  # noqa: UP031
            REQUIRES + (sys.executable or "python3", sys.version.split()[0])))
        sys.exit(2)
    archive = os.path.dirname(os.path.abspath(__file__))
    target = os.path.join(_cache_root(), BUILD_ID)
    if not os.path.exists(os.path.join(target, ".complete")):
        try:
            _extract(archive, target)
        except OSError:  # read-only home: run from the archive, slower but working
            target = os.path.join(archive, LIB)
    sys.path.insert(0, target)
    from kubectl_meshdebug.cli.main import main as run

    run()


if __name__ == "__main__":
    main()
