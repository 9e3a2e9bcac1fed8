.PHONY: dist test bench

dist:  ## the krew artifact (dist/kubectl-meshdebug.tar.gz) and plugin.yaml's sha256
	python tools/build_dist.py

test:
	python -m pytest

bench:
	python benchmarks/run.py
