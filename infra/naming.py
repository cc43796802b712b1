"""Resource names per environment, planned once: several Azure names are global and some stay reserved.

A Key Vault with purge protection keeps its name for the whole soft-delete period (90 days) after it is deleted,
and vault, Event Hubs namespace and Fabric capacity names are unique across Azure. So each environment's names
carry the environment and a short suffix that is stable for a (subscription, stack) pair: redeploying the same
stack keeps its names, another subscription or stack never collides. To redeploy after `pulumi destroy` while
the old vault is still soft-deleted, set `altaviz:name_suffix` to a new value (or recover the vault).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

SUFFIX_LENGTH = 5
KEY_VAULT_MAX = 24


def stable_suffix(subscription_id: str, stack: str) -> str:
    """Five lowercase hex characters derived from the subscription and the stack name."""
    return hashlib.sha256(f"{subscription_id.lower()}/{stack}".encode()).hexdigest()[:SUFFIX_LENGTH]


@dataclass(frozen=True)
class ResourceNames:
    """The Azure resource names of one environment (`staging`, `prod`, `dev-<name>`)."""

    environment: str
    suffix: str

    @property
    def resource_group(self) -> str:
        return f"rg-altaviz-{self.environment}"

    @property
    def event_hubs_namespace(self) -> str:
        """Global name: 6-50 letters, digits and hyphens."""
        return f"evhns-altaviz-{self.environment}-{self.suffix}"

    @property
    def key_vault(self) -> str:
        """Global name, at most 24 characters: the environment part is shortened, the suffix always kept."""
        room = KEY_VAULT_MAX - len("kv-avz-") - len(self.suffix) - 1
        return f"kv-avz-{self.environment[:room].rstrip('-')}-{self.suffix}"

    @property
    def log_analytics_workspace(self) -> str:
        return f"log-altaviz-{self.environment}"

    @property
    def data_collection_endpoint(self) -> str:
        return f"dce-altaviz-{self.environment}"

    @property
    def data_collection_rule(self) -> str:
        return f"dcr-altaviz-{self.environment}"

    @property
    def fabric_capacity(self) -> str:
        """Lowercase letters and digits only, 3-63 characters."""
        return f"altaviz{self.environment.replace('-', '')}{self.suffix}"
