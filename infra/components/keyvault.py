"""Key Vault: RBAC mode, purge protection, 90-day soft delete, a firewall; the secrets the notebooks read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pulumi import ComponentResource, Input, Output, ResourceOptions
from pulumi_azure_native import keyvault
from stack_config import KeyVaultConfig

SOFT_DELETE_DAYS = 90


@dataclass
class KeyVaultArgs:
    """The vault's name and network settings, and the secrets to put in it (name -> value)."""

    resource_group_name: Input[str]
    location: str
    vault_name: Input[str]
    tenant_id: Input[str]
    settings: KeyVaultConfig
    secrets: Mapping[str, Input[str]] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


class KeyVault(ComponentResource):
    """A vault whose data plane is governed by Azure RBAC only (no access policies), plus its secrets.

    Purge protection and 90-day soft delete cannot be turned off later and keep a deleted vault's name reserved
    for 90 days; see `naming` for how vault names are planned.
    """

    vault_name: Output[str]
    vault_id: Output[str]
    vault_uri: Output[str]
    secret_names: tuple[str, ...]

    def __init__(self, name: str, args: KeyVaultArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("altaviz:keyvault:KeyVault", name, None, opts)
        child = ResourceOptions(parent=self)
        settings = args.settings
        vault = keyvault.Vault(
            f"{name}-vault",
            vault_name=args.vault_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=args.tenant_id,
                sku=keyvault.SkuArgs(family="A", name="standard"),
                enable_rbac_authorization=True,
                enable_purge_protection=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=SOFT_DELETE_DAYS,
                enabled_for_deployment=False,
                enabled_for_disk_encryption=False,
                enabled_for_template_deployment=False,
                public_network_access=settings.public_network_access,
                network_acls=keyvault.NetworkRuleSetArgs(
                    bypass="AzureServices",
                    default_action=settings.network_default_action,
                    ip_rules=[keyvault.IPRuleArgs(value=ip) for ip in settings.allowed_ip_ranges]),
            ),
            tags=dict(args.tags),
            opts=child)
        self.secret_names = tuple(args.secrets)
        for secret_name, value in args.secrets.items():
            keyvault.Secret(
                f"{name}-{secret_name}",
                secret_name=secret_name,
                vault_name=vault.name,
                resource_group_name=args.resource_group_name,
                properties=keyvault.SecretPropertiesArgs(value=Output.secret(value)),
                opts=child)
        self.vault_name = vault.name
        self.vault_id = vault.id
        self.vault_uri = vault.properties.apply(lambda p: p.vault_uri)
        self.register_outputs({"vault_name": self.vault_name, "vault_id": self.vault_id,
                               "vault_uri": self.vault_uri, "secret_names": list(self.secret_names)})
