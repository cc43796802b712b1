"""Where monitoring sends things: Key Vault secrets in Fabric, `ALTAVIZ_*` environment variables locally."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

from altaviz.config import secret_env_var

#: Setting -> Key Vault secret name. Locally each is the variable `secret_env_var(name)`, e.g. ALTAVIZ_TEAMS_WEBHOOK_URL.
SECRET_NAMES = {
    "dce_endpoint": "monitor-dce-endpoint",      # data collection endpoint's logs ingestion URL
    "dcr_id": "monitor-dcr-id",                  # data collection rule immutable id (dcr-...)
    "tenant_id": "monitor-tenant-id",            # service principal for the Logs Ingestion API (Fabric)
    "client_id": "monitor-client-id",
    "client_secret": "monitor-client-secret",
    "static_token": "monitor-token",             # a fixed bearer token, for local fakes only
    "teams_webhook_url": "teams-webhook-url",    # Teams Workflows webhook
    "logs_url": "logs-url",                      # link to the logs, shown on cards
}
_SECRET_FIELDS = ("client_secret", "static_token", "teams_webhook_url")


@dataclass(frozen=True)
class MonitorSettings:
    """Monitoring destinations; None means not configured. Secrets never appear in repr()."""

    dce_endpoint: str | None = None
    dcr_id: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    static_token: str | None = None
    teams_webhook_url: str | None = None
    logs_url: str | None = None

    def __repr__(self) -> str:
        def shown(name: str) -> str:
            value = getattr(self, name)
            return "'***'" if name in _SECRET_FIELDS and value else repr(value)

        return f"MonitorSettings({', '.join(f'{f.name}={shown(f.name)}' for f in fields(self))})"

    @classmethod
    def from_lookup(cls, lookup: Callable[[str], str | None]) -> MonitorSettings:
        """Read each setting by its Key Vault secret name (blank counts as unset)."""
        return cls(**{field: (lookup(name) or "").strip() or None for field, name in SECRET_NAMES.items()})

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> MonitorSettings:
        """Read each setting from its `ALTAVIZ_*` environment variable."""
        return cls.from_lookup(lambda name: environ.get(secret_env_var(name)))

    def azure_monitor_problem(self) -> str | None:
        """Why Azure Monitor is half-configured, or None when it is configured or fully off."""
        for group in (("dce_endpoint", "dcr_id"), ("tenant_id", "client_id", "client_secret")):
            given = {k: getattr(self, k) for k in group}
            if any(given.values()) and not all(given.values()):
                missing = [secret_env_var(SECRET_NAMES[k]) for k, v in given.items() if not v]
                return f"Azure Monitor needs {' and '.join(missing)} as well"
        return None

    @property
    def azure_monitor(self) -> bool:
        """True when records go to the Logs Ingestion API."""
        return bool(self.dce_endpoint and self.dcr_id)

    @property
    def teams(self) -> bool:
        """True when cards go to a Teams channel."""
        return bool(self.teams_webhook_url)
