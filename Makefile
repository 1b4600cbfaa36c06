# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ckptscope-installed
TORCH := torch==2.13.0

.PHONY: setup demo test test-fast browser lint bench clean

# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build. The version lives in
# ckptscope/__init__.py: a new one reinstalls (the installed metadata reads it).
$(STAMP): pyproject.toml src/ckptscope/__init__.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev,ray,fast]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/ckptscope demo

# Debian's Chromium for the browser test. The test never installs anything: where
# Chromium is missing and this is not root, it skips and names this target.
browser:
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null; \
	  else echo "chromium missing: run 'sudo make browser' for the browser test"; fi

# The full suite (what CI runs): lint, format, every test including browser and Ray.
test: $(STAMP) browser
	$(BIN)/ruff check src tests benchmarks scripts examples
	$(BIN)/ruff format --check src tests benchmarks scripts examples
	$(BIN)/python -m pytest -q

# The inner loop: everything but the tests marked slow, browser or ray (about 6 minutes here).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not browser and not ray"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts examples
	$(BIN)/ruff format --check src tests benchmarks scripts examples

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) build *.egg-info runs
