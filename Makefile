# Two commands do all the set-up on a fresh machine:
#   make demo   install into .venv, then run the whole system with a short demo
#   make test   install into .venv, then lint, type-check and run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint install clean

# Also installs Debian's chromium for the page tests (playwright downloads no browser) and a CJK font.
$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev,bench]'  # bench: the benchmark scripts' charts and RSS
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	# A Chinese font, so the zh-CN pages render (and their screenshots read) in headless chromium.
	fc-list :lang=zh | grep -q . || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei)
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/refundwatch demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports

# Two workers, each with its own stack (dev server, database, sandbox, API); a file stays on one.
test: lint
	$(VENV)/bin/pytest -n 2 --dist loadfile

clean:
	rm -rf $(VENV) .data build *.egg-info
