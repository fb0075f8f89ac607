# Cloudlet: `make up` runs a single-node cloud, `make test` runs the whole test suite.
# Both install what is missing first (system packages through ansible/, then the virtualenv)
# and are idempotent: stamps under .venv/ skip work that is already done.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(HOME)/.local/share/cloudlet
LISTEN ?= 127.0.0.1:8773
# make bench BENCH="api s3" runs only those benchmarks (bench/bench_api.py, bench/bench_s3.py)
BENCH ?=
# Extra `cloudlet up` flags, e.g. UP_ARGS="--uplink nat --eip-pool 192.168.1.200-192.168.1.220" (recorded once).
UP_ARGS ?=
PYTEST_ARGS ?=
# The part of the suite `make test` runs a second time with every test cloud on PostgreSQL
# (CLOUDLET_TEST_DATABASE=postgresql: tests/postgres_lab.py starts a private cluster). Any test runs that way.
# The API fuzz suite (tests/e2e/test_fuzz_api.py, about 4 minutes) checks PostgreSQL answers no 5xx either.
POSTGRES_TESTS ?= tests/e2e/test_iam_api.py tests/e2e/test_s3_wire.py tests/e2e/test_ec2_instances_api.py \
	tests/e2e/test_sqs_api.py tests/e2e/test_sns.py tests/e2e/test_sqs_durability.py tests/e2e/test_fuzz_api.py

.PHONY: up test test-postgres bench install services images lint s3fs-venv node-clients console-vendor

up: install services images
	$(BIN)/cloudlet up --data-dir $(DATA_DIR) --listen $(LISTEN) $(UP_ARGS)

test: install services images s3fs-venv node-clients
	$(BIN)/ruff check controller agent tests bench
	$(BIN)/pytest $(PYTEST_ARGS)
	CLOUDLET_TEST_DATABASE=postgresql $(BIN)/pytest $(PYTEST_ARGS) -m "not vm" $(POSTGRES_TESTS)

# The same representative part on PostgreSQL alone.
test-postgres: install services
	CLOUDLET_TEST_DATABASE=postgresql $(BIN)/pytest $(PYTEST_ARGS) -m "not vm" $(POSTGRES_TESTS)

bench: install services
	$(BIN)/python bench/run_all.py $(BENCH)

install: $(VENV)/.installed console-vendor

lint: install
	$(BIN)/ruff check controller agent tests bench

$(BIN)/python:
	@echo "==> creating the virtualenv in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# System packages, through the same ansible role that deploys more hosts.
$(VENV)/.system: $(BIN)/python ansible/site.yml $(wildcard ansible/roles/*/*/*.yml)
	@echo "==> installing ansible into the virtualenv"
	$(BIN)/pip install --quiet 'ansible-core>=2.15'
	@echo "==> installing system packages (ansible/site.yml on localhost)"
	$(BIN)/ansible-playbook -i ansible/inventory.ini ansible/site.yml
	touch $@

$(VENV)/.installed: $(VENV)/.system pyproject.toml
	@echo "==> installing Cloudlet and its test tools into the virtualenv"
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

# s3fs (a client the S3 tests drive) pins an older botocore through aiobotocore: it gets a venv of its own.
S3FS_VENV := .cache/s3fs-venv
s3fs-venv: $(S3FS_VENV)/bin/s3fs-ready

$(S3FS_VENV)/bin/s3fs-ready:
	@echo "==> installing s3fs into $(S3FS_VENV)"
	$(PYTHON) -m venv $(S3FS_VENV)
	$(S3FS_VENV)/bin/pip install --quiet s3fs
	touch $@

# Node clients the tests drive (tests/node: the ssm-session library for Session Manager shells).
node-clients: tests/node/node_modules/.installed

tests/node/node_modules/.installed: tests/node/package.json tests/node/package-lock.json
	@echo "==> installing the tests' node clients (npm ci in tests/node)"
	cd tests/node && npm ci --no-audit --no-fund --silent
	touch $@

# The web console's client libraries (controller/console/static/vendor/, git-ignored): htmx and uPlot (the
# instance page's graphs) from npm, pinned and checked against the hashes of the reviewed releases, with their
# LICENSEs; nothing is fetched at run time.
HTMX_VERSION := 2.0.11
HTMX_SHA256 := d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717
UPLOT_VERSION := 1.6.32
UPLOT_SHA256 := 19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f
UPLOT_CSS_SHA256 := df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04
CONSOLE_VENDOR := controller/console/static/vendor
CYTOSCAPE_VERSION := 3.35.0
CYTOSCAPE_SHA256 := 71fa9ebec21a7ca2c40cff6aacc30d1f6464e363662ad4b2c197e1adc770cd94
XTERM_VERSION := 6.0.0
XTERM_SHA256 := 14903579ff54664cd72f8e8699e6961a6272c21863ec1c3b118cdc8af5d4a972
XTERM_CSS_SHA256 := 854a7c0fb70e8b1a083c16797ab827299fb18744f5ad34f227b48337e33293c6
XTERM_FIT_VERSION := 0.11.0
XTERM_FIT_SHA256 := ba3ea256ce0620a0992a197d6c9baea64823fc93d8da07a9e366ca9943c18527
console-vendor: $(CONSOLE_VENDOR)/htmx-$(HTMX_VERSION).stamp $(CONSOLE_VENDOR)/cytoscape-$(CYTOSCAPE_VERSION).stamp \
	$(CONSOLE_VENDOR)/uplot-$(UPLOT_VERSION).stamp $(CONSOLE_VENDOR)/xterm-$(XTERM_VERSION).stamp

$(CONSOLE_VENDOR)/htmx-$(HTMX_VERSION).stamp:
	@echo "==> vendoring htmx $(HTMX_VERSION) into $(CONSOLE_VENDOR)"
	rm -rf $(CONSOLE_VENDOR) && mkdir -p $(CONSOLE_VENDOR)
	tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent htmx.org@$(HTMX_VERSION) >/dev/null \
		&& tar xzf htmx.org-$(HTMX_VERSION).tgz package/dist/htmx.min.js package/LICENSE \
		&& echo "$(HTMX_SHA256)  package/dist/htmx.min.js" | sha256sum --check --quiet \
		&& cp package/dist/htmx.min.js $(CURDIR)/$(CONSOLE_VENDOR)/ \
		&& cp package/LICENSE $(CURDIR)/$(CONSOLE_VENDOR)/htmx.LICENSE && rm -rf $$tmp
	touch $@

# Cytoscape draws the VPC topology; after htmx's rule, which empties the folder first.
$(CONSOLE_VENDOR)/cytoscape-$(CYTOSCAPE_VERSION).stamp: $(CONSOLE_VENDOR)/htmx-$(HTMX_VERSION).stamp
	tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent cytoscape@$(CYTOSCAPE_VERSION) >/dev/null \
		&& tar xzf cytoscape-$(CYTOSCAPE_VERSION).tgz package/dist/cytoscape.min.js package/LICENSE \
		&& echo "$(CYTOSCAPE_SHA256)  package/dist/cytoscape.min.js" | sha256sum --check --quiet \
		&& cp package/dist/cytoscape.min.js $(CURDIR)/$(CONSOLE_VENDOR)/ \
		&& cp package/LICENSE $(CURDIR)/$(CONSOLE_VENDOR)/cytoscape.LICENSE && rm -rf $$tmp
	touch $@

# uPlot after htmx, whose rule empties the directory.
$(CONSOLE_VENDOR)/uplot-$(UPLOT_VERSION).stamp: $(CONSOLE_VENDOR)/htmx-$(HTMX_VERSION).stamp
	@echo "==> vendoring uPlot $(UPLOT_VERSION) into $(CONSOLE_VENDOR)"
	tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent uplot@$(UPLOT_VERSION) >/dev/null \
		&& tar xzf uplot-$(UPLOT_VERSION).tgz package/dist/uPlot.iife.min.js package/dist/uPlot.min.css package/LICENSE \
		&& echo "$(UPLOT_SHA256)  package/dist/uPlot.iife.min.js" | sha256sum --check --quiet \
		&& echo "$(UPLOT_CSS_SHA256)  package/dist/uPlot.min.css" | sha256sum --check --quiet \
		&& cp package/dist/uPlot.iife.min.js package/dist/uPlot.min.css $(CURDIR)/$(CONSOLE_VENDOR)/ \
		&& cp package/LICENSE $(CURDIR)/$(CONSOLE_VENDOR)/uplot.LICENSE && rm -rf $$tmp
	touch $@

# xterm.js (and its fit addon, same MIT licence) draws the browser shell's terminal; after htmx's rule, which
# empties the folder.
$(CONSOLE_VENDOR)/xterm-$(XTERM_VERSION).stamp: $(CONSOLE_VENDOR)/htmx-$(HTMX_VERSION).stamp
	@echo "==> vendoring xterm.js $(XTERM_VERSION) into $(CONSOLE_VENDOR)"
	tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent @xterm/xterm@$(XTERM_VERSION) >/dev/null \
		&& tar xzf xterm-xterm-$(XTERM_VERSION).tgz package/lib/xterm.js package/css/xterm.css package/LICENSE \
		&& echo "$(XTERM_SHA256)  package/lib/xterm.js" | sha256sum --check --quiet \
		&& echo "$(XTERM_CSS_SHA256)  package/css/xterm.css" | sha256sum --check --quiet \
		&& cp package/lib/xterm.js package/css/xterm.css $(CURDIR)/$(CONSOLE_VENDOR)/ \
		&& cp package/LICENSE $(CURDIR)/$(CONSOLE_VENDOR)/xterm.LICENSE && rm -rf package \
		&& npm pack --silent @xterm/addon-fit@$(XTERM_FIT_VERSION) >/dev/null \
		&& tar xzf xterm-addon-fit-$(XTERM_FIT_VERSION).tgz package/lib/addon-fit.js \
		&& echo "$(XTERM_FIT_SHA256)  package/lib/addon-fit.js" | sha256sum --check --quiet \
		&& cp package/lib/addon-fit.js $(CURDIR)/$(CONSOLE_VENDOR)/xterm-addon-fit.js && rm -rf $$tmp
	touch $@

# The tiny AMI that `cloudlet up` registers on first start (cached: a rebuild only when its inputs change).
images:
	@echo "==> building the tiny AMI (images/out/tiny)"
	$(MAKE) -C images tiny

# libvirt runs without systemd here: start its daemons when they are not running.
services:
	@pgrep -x virtlogd >/dev/null || { echo "==> starting virtlogd"; virtlogd -d; }
	@pgrep -x libvirtd >/dev/null || { echo "==> starting libvirtd"; libvirtd -d; }
