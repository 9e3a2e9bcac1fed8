"""Bootstrap of the single-file build (copied into the zipapp as __main__.py).

A plain zipapp recompiles every module on every start, because it cannot write .pyc files
into itself: seconds per command with the kubernetes client. So the first run extracts the
bundled packages to a cache folder keyed by the build id, compiles them there once (so
that PYTHONDONTWRITEBYTECODE, common in containers, does not mean compiling on every run),
and every later run only puts that folder on sys.path: no zip is opened, nothing but os
and sys is imported before the command itself.

The packages travel as one member, lib.zip, so that the archive Python opens to run this
file has two entries: Python reads an archive's whole directory before it runs anything
from it, and with the 2,000 files of the packages listed there that cost every start
about 8 ms, an eighth of what importing click costs.

The build writes BUILD_ID and REQUIRES below. This file must parse on old Pythons, so
that one on an unsupported version says so in one line instead of a SyntaxError.
"""

import os
import sys

BUILD_ID = "@BUILD_ID@"
REQUIRES = (3, 11)
LIB = "lib/"
PACKAGES = "lib.zip"


def _cache_root():
    return os.environ.get("KUBECTL_MESHDEBUG_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "kubectl-meshdebug")


def _unpack(archive, folder):
    """The packages of ARCHIVE's lib.zip written under FOLDER/lib/."""
    import io
    import zipfile

    with zipfile.ZipFile(archive) as outer:
        packages = outer.read(PACKAGES)
    with zipfile.ZipFile(io.BytesIO(packages)) as zf:
        for name in zf.namelist():
            if name.startswith(LIB) and not name.endswith("/"):
                zf.extract(name, folder)


def _extract(archive, target):
    import compileall
    import shutil
    import tempfile

    os.makedirs(_cache_root(), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + BUILD_ID + "-", dir=_cache_root())
    try:
        _unpack(archive, tmp)
        compileall.compile_dir(os.path.join(tmp, LIB), quiet=2, workers=1)
        open(os.path.join(tmp, LIB, ".complete"), "w").close()
        try:
            os.rename(os.path.join(tmp, LIB), target)
        except OSError:  # another process won the race: use its copy
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _scratch(archive):
    """A read-only cache: the packages in a temporary folder removed when the command
    ends (slower, compiled on every run, but working and leaving nothing behind)."""
    import atexit
    import shutil
    import tempfile

    tmp = tempfile.mkdtemp(prefix="kubectl-meshdebug-")
    atexit.register(shutil.rmtree, tmp, True)
    _unpack(archive, tmp)
    return os.path.join(tmp, LIB)


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
        except OSError:  # read-only home
            try:
                target = _scratch(archive)
            except OSError as exc:
                # %-formatting on purpose, as above
                sys.stderr.write("error: kubectl-meshdebug cannot unpack its packages: %s "  # noqa: UP031
                                 "and the temporary folder are not writable (%s); set "
                                 "KUBECTL_MESHDEBUG_CACHE or TMPDIR to a writable folder\n" % (
                                     _cache_root(), exc.strerror or exc))
                sys.exit(2)
    sys.path.insert(0, target)
    from kubectl_meshdebug.cli.main import main as run

    run()


if __name__ == "__main__":
    main()
