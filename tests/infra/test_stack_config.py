"""Stack configuration: the stack files load, invalid config fails naming the key, dev defaults, planned names."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest
from mocked_program import REPO, SUBSCRIPTION_ID, config_values_for, infra_module

from altaviz.errors import ConfigError

ResourceNames = infra_module("naming").ResourceNames
stable_suffix = infra_module("naming").stable_suffix
load_stack_config = infra_module("stack_config").load_stack_config


def prod_values(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(config_values_for("prod"))
    values.update(changes)
    return values


def test_stack_files_load():
    """Both stack files and the dev example load and differ where they should."""
    staging = load_stack_config("staging", config_values_for("staging"))
    prod = load_stack_config("prod", config_values_for("prod"))
    dev = load_stack_config("dev-alice", config_values_for("dev-alice"))
    assert (staging.event_hubs.partitions, prod.event_hubs.partitions, dev.event_hubs.partitions) == (4, 16, 2)
    assert (staging.key_vault.network_default_action, prod.key_vault.network_default_action) == ("Allow", "Deny")
    assert dev.is_dev and dev.fabric_prefix == "dev-alice-" and not dev.fabric.schedule_enabled


@pytest.mark.parametrize(("stack", "values", "message"), [
    ("prod", prod_values(**{"altaviz:event_hubs": None}), r"altaviz:event_hubs is required for stack 'prod'"),
    ("prod", prod_values(**{"altaviz:eventhubs": "{}"}),
     r"unknown config key altaviz:eventhubs; allowed keys: altaviz:event_hubs"),
    ("prod", prod_values(**{"altaviz:event_hubs": '{"partitions": 16}'}),
     r"altaviz:event_hubs.sku is required for stack 'prod' \(Basic has no Kafka endpoint"),
    ("dev-alice", prod_values(**{"altaviz:event_hubs": '{"partitions": 64}'}),
     r"altaviz:event_hubs.partitions: 64 is out of range; allowed 1..32 \(Standard allows 1..32"),
    ("prod", prod_values(**{"altaviz:log_analytics": '{"retention_days": 7}'}),
     r"altaviz:log_analytics.retention_days: 7 is out of range; allowed 30..730"),
    ("prod", prod_values(**{"altaviz:log_analytics": '{"retention_days": 90, "retention": 1}'}),
     r"unknown config key altaviz:log_analytics.retention; allowed keys under altaviz:log_analytics: retention_days"),
    ("prod", prod_values(**{"altaviz:key_vault": '{"network_default_action": "Block", "public_network_access": '
                                                 '"Enabled"}'}),
     r"altaviz:key_vault.network_default_action: 'Block' is not allowed; allowed: Allow, Deny"),
    ("prod", prod_values(**{"azure-native:location": None}), r"azure-native:location must name an Azure region"),
    ("prod", prod_values(**{"altaviz:fabric": '{"capacity": {"sku": "P1", "admins": ["a@b.example"]}, '
                                              '"schedule_enabled": true}'}),
     r"altaviz:fabric.capacity.sku: 'P1' is not allowed; allowed: F2, F4"),
    ("prod", prod_values(**{"altaviz:fabric": '{"capacity": {}, "schedule_enabled": true, '
                                              '"streaming": "catch-up"}'}),
     r"altaviz:fabric.capacity: give id .* or admins"),
    ("prod", prod_values(**{"altaviz:fabric": '{"capacity": {"sku": "F8", "admins": ["a@b.example"]}, '
                                              '"schedule_enabled": true, "streaming": "always"}'}),
     r"altaviz:fabric.streaming: 'always' is not allowed; allowed: catch-up, continuous"),
    ("prod", prod_values(**{"altaviz:fabric": '{"capacity": {"id": "not-a-guid"}, "schedule_enabled": true}'}),
     r"altaviz:fabric.capacity.id: 'not-a-guid' is not valid: the Fabric capacity id"),
    ("prod", prod_values(**{"altaviz:fabric": '{"capacity": {"id": "2f9c1e47-0b6d-4a8e-9f3c-7d5b1a2e4c6f"}, '
                                              '"schedule_enabled": "yes"}'}),
     r"altaviz:fabric.schedule_enabled must be true or false \(got 'yes'\)"),
    ("prod", prod_values(**{"altaviz:identities": "{}"}),
     r"altaviz:identities.telemetry_producer_object_id is required for stack 'prod' \(gets Azure Event Hubs"),
    ("prod", prod_values(**{"altaviz:name_suffix": "ABC"}), r"altaviz:name_suffix must be 5 lowercase"),
    ("prod", prod_values(**{"altaviz:event_hubs": '{"sku": "Standard", "partitions": 4, "retention_hours": 24, '
                                                  '"throughput_units": 4, "max_throughput_units": 2, '
                                                  '"zone_redundant": true, "public_network_access": "Enabled"}'}),
     r"max_throughput_units \(2\) must be 0 or at least event_hubs.throughput_units \(4\)"),
    ("qa", prod_values(), r"stack 'qa' is not one of staging, prod, dev-<name>"),
    ("dev-Alice", prod_values(), r"stack 'dev-Alice' is not one of"),
    ("dev-alice", {"azure-native:location": "southcentralus"}, r"altaviz:fabric.capacity: give id"),
], ids=["missing-section", "unknown-section", "missing-key", "too-many-partitions", "out-of-range", "unknown-nested-key",
        "bad-choice", "missing-location", "bad-capacity-sku", "no-capacity", "bad-streaming", "bad-guid", "bad-bool",
        "missing-producer", "bad-suffix", "auto-inflate-below-base", "bad-stack", "bad-dev-name", "dev-no-capacity"])
def test_invalid_config_is_refused_with_the_key_and_allowed_values(stack, values, message):
    """A missing, unknown or invalid key fails with a ConfigError naming it and what would be valid."""
    values = {k: v for k, v in values.items() if v is not None}
    with pytest.raises(ConfigError, match=message):
        load_stack_config(stack, values)


def test_dev_stacks_get_the_smallest_sizes_and_paused_schedules():
    """With only a location and a shared capacity, a dev stack is fully configured with small defaults."""
    config = load_stack_config("dev-carol", {
        "azure-native:location": "southcentralus",
        "altaviz:fabric": {"capacity": {"id": "2f9c1e47-0b6d-4a8e-9f3c-7d5b1a2e4c6f"}}})
    assert (config.event_hubs.sku, config.event_hubs.partitions, config.event_hubs.throughput_units) == (
        "Standard", 2, 1)
    assert config.event_hubs.max_throughput_units == 0 and not config.event_hubs.zone_redundant
    assert config.log_analytics.retention_days == 30
    assert config.fabric.schedule_enabled is False
    assert config.fabric_workspace_name == "dev-carol-altaviz"
    assert config.fabric_item_name("nb_bronze_ingest") == "dev-carol-nb_bronze_ingest"
    assert config.identities.telemetry_producer_object_id is None


def test_dev_overrides_and_string_values_from_the_cli_are_accepted():
    """`pulumi config set --path` strings ("16", "true") convert; a dev stack may override any default."""
    config = load_stack_config("dev-dan", {
        "azure-native:location": "westeurope",
        "altaviz:event_hubs": '{"partitions": "8"}',
        "altaviz:fabric": '{"capacity": {"admins": ["dan@altaviz.example"]}, "schedule_enabled": "true"}'})
    assert config.event_hubs.partitions == 8
    assert config.fabric.schedule_enabled is True
    assert config.fabric.capacity.sku == "F2"


@pytest.mark.parametrize("stack", ["staging", "prod", "dev-alice", "dev-abcdefghijklmnopqrs"])
def test_planned_names_fit_azure_rules(stack):
    """Vault ≤ 24 characters, capacity lowercase alphanumerics, namespace ≤ 50; suffix stable per stack."""
    names = ResourceNames(stack, stable_suffix(SUBSCRIPTION_ID, stack))
    assert re.fullmatch(r"[a-z][a-z0-9-]{1,22}[a-z0-9]", names.key_vault) and "--" not in names.key_vault
    assert re.fullmatch(r"[a-z][a-z0-9]{2,62}", names.fabric_capacity)
    assert len(names.event_hubs_namespace) <= 50
    assert stable_suffix(SUBSCRIPTION_ID, stack) == stable_suffix(SUBSCRIPTION_ID.upper(), stack)
    assert stable_suffix(SUBSCRIPTION_ID, stack) != stable_suffix(SUBSCRIPTION_ID, stack + "x")


def test_the_program_imports_its_own_modules_from_any_working_directory(tmp_path):
    """`infra/__main__.py` run from elsewhere (as the Pulumi CLI or a test would) finds components/ and friends."""
    program = REPO / "infra" / "__main__.py"
    done = subprocess.run([sys.executable, "-c", f"import runpy; runpy.run_path({str(program)!r}, run_name='probe')"],
                          cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
