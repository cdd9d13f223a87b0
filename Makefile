# Set-up on a fresh machine that has only python3: `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# PyTorch (the `train` extra) is pinned to 2.13.0, whose CPU build exists for Python 3.11;
# on other Pythons it would pull a multi-GB CUDA build, so it is installed only there (TRAIN=1 forces it).
TRAIN ?= $(shell $(PYTHON) -c 'import sys; print(1 if sys.version_info[:2] == (3, 11) else 0)')
comma := ,
TEST_EXTRAS := dev$(comma)nir$(comma)audio$(comma)sweep$(comma)docs$(if $(filter 1,$(TRAIN)),$(comma)train,)

.PHONY: demo test bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install -e ".[$(TEST_EXTRAS)]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/snn-neurram demo

# Debian's espeak-ng synthesises the spoken-keyword benchmark: installed here when apt-get can
# (as root); elsewhere the tests that need it skip and say why
$(VENV)/.system-packages: $(BIN)/python
	@if command -v espeak-ng >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng; \
	else echo "note: espeak-ng missing (not root): the keyword tests will skip"; fi
	touch $@

test: $(VENV)/.installed-test $(VENV)/.system-packages
	$(BIN)/lint-imports setup.cfg
	$(BIN)/mypy --config-file setup.cfg
	$(BIN)/python -m pytest -q

# The user guide and the API reference (mkdocs.yml): a static site in site/, built offline in
# strict mode (a broken link, reference or docstring fails the build)
$(VENV)/.installed-docs: $(VENV)/.installed
	$(BIN)/python -m pip install -e ".[docs]"
	touch $@

docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

bench: $(VENV)/.installed
	mkdir -p results
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b --json results/$$(basename $$b .py).json || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
