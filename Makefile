.PHONY: dist test bench

PYTHON ?= python3
DIST_VENV ?= build/dist-venv

# The krew artifact (dist/kubectl-meshdebug.tar.gz) and plugin.yaml's sha256, built in a
# fresh venv from the pinned, hashed dependencies: two clean clones give the same bytes.
dist:
	rm -rf $(DIST_VENV)
	$(PYTHON) -m venv $(DIST_VENV)
	$(DIST_VENV)/bin/pip install -q --require-hashes --no-deps -r requirements/dist.txt
	$(DIST_VENV)/bin/python tools/build_dist.py

test:
	$(PYTHON) -m pytest

bench:
	$(PYTHON) benchmarks/run.py
