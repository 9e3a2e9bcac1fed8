"""Metadata lives in setup.cfg; this file only ships the finding pages in the package.

docs/checks/*.md stay where people browsing the repository find them; a built wheel
carries a copy in kubectl_meshdebug/pages/ so that `kubectl meshdebug explain ID` works
where no repository is (tools/build_dist.py does the same for the krew build).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PAGES = Path(__file__).resolve().parent / "docs" / "checks"


class BuildWithPages(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "kubectl_meshdebug" / "pages"
        target.mkdir(parents=True, exist_ok=True)
        for page in sorted(PAGES.glob("*.md")):
            (target / page.name).write_bytes(page.read_bytes())


setup(cmdclass={"build_py": BuildWithPages})
