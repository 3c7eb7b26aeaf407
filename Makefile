# 党建质量管理体系 — the two commands of README.md live here.
#   make run   — install what is missing, migrate, load the demo committee, serve on 127.0.0.1:8000
#   make test  — install the same and run the whole suite with pytest
# Both are idempotent and work as root (Debian packages installed) or as a normal user
# (the Debian packages must then already be present).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-16)
DEB_PACKAGES := fonts-noto-cjk poppler-utils gettext chromium
# 企业目录登录 (the `ldap` extra: python-ldap compiles against the -dev packages; tests/test_ldap.py starts
# its own slapd). `make test` and `make lint` install them; `make run` does not need them.
LDAP_DEB_PACKAGES := libldap2-dev libsasl2-dev slapd ldap-utils
LDAP_STAMP := $(VENV)/.installed-ldap-$(shell cat pyproject.toml | sha256sum | cut -c1-16)
HOST ?= 127.0.0.1
# the suite runs on this many processes (pytest-xdist; each file whole on one process, each
# process with its own test database): 2 suits the 2-core machines CI and most offices use
PYTEST_WORKERS ?= 2
# the tests run in the order they are written; bench/random_orders.sh gives "-p randomly" (T22)
PYTEST_ORDER ?= -p no:randomly
PORT ?= 8000

.PHONY: run test deps debs lint demo check-debs ldap-debs ldap-deps

debs: PKGS = $(DEB_PACKAGES)
ldap-debs: PKGS = $(LDAP_DEB_PACKAGES)
debs ldap-debs:
	@missing=""; for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "安装系统软件包:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "缺少系统软件包:$$missing — 请以 root 运行 'apt-get install$$missing' 后重试" >&2; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

deps: debs $(STAMP)

$(LDAP_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[dev,ldap]'
	@touch $(LDAP_STAMP)

ldap-deps: deps ldap-debs $(LDAP_STAMP)

run: deps
	$(PY) manage.py migrate --noinput
	HOST=$(HOST) PORT=$(PORT) $(PY) manage.py demo --background-history
	$(PY) manage.py runserver $(HOST):$(PORT)

test: ldap-deps
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ORDER) $(PYTEST_ARGS)

lint: ldap-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
