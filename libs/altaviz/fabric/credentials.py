"""Access tokens for deployments: Fabric (`ALTAVIZ_FABRIC_TOKEN` when set) and Azure Resource Manager
(`ALTAVIZ_ARM_TOKEN`), else azure-identity's default chain.

Read at call time, never at import, and never passed as a resource input: Pulumi's dynamic providers call
`fabric_token_provider()` inside their methods.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable

FABRIC_SCOPE = "https://api.fabric.microsoft.com/.default"
TOKEN_ENV = "ALTAVIZ_FABRIC_TOKEN"
ARM_SCOPE = "https://management.azure.com/.default"
ARM_TOKEN_ENV = "ALTAVIZ_ARM_TOKEN"
REFRESH_MARGIN_SECONDS = 300


def fabric_token_provider() -> Callable[[], str]:
    """A callable returning a Fabric API access token.

    `ALTAVIZ_FABRIC_TOKEN` (tests, CI jobs that fetch a token themselves) wins when set. Otherwise
    `azure.identity.DefaultAzureCredential` (environment service principal, workload identity, managed identity,
    Azure CLI, ...) is asked for scope `https://api.fabric.microsoft.com/.default`, and the token is reused until
    five minutes before it expires.
    """
    fixed = os.environ.get(TOKEN_ENV)
    if fixed:
        return lambda: fixed
    return _credential_tokens(FABRIC_SCOPE)


def arm_token_provider() -> Callable[[], str]:
    """A callable returning an Azure Resource Manager token (approving private endpoint connections):
    `ALTAVIZ_ARM_TOKEN` when set, else `DefaultAzureCredential` for `https://management.azure.com/.default`."""
    fixed = os.environ.get(ARM_TOKEN_ENV)
    if fixed:
        return lambda: fixed
    return _credential_tokens(ARM_SCOPE)


@functools.cache
def _credential_tokens(scope: str) -> _CachedCredentialToken:
    """One token cache per scope for the process, so a provider's many calls share one credential and token."""
    return _CachedCredentialToken(scope)


class _CachedCredentialToken:
    """Tokens from DefaultAzureCredential for one scope, cached until near expiry."""

    def __init__(self, scope: str, *, clock: Callable[[], float] = time.time) -> None:
        self.scope = scope
        self.clock = clock
        self._credential = None
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._token is None or self.clock() >= self._expires_on - REFRESH_MARGIN_SECONDS:
                if self._credential is None:
                    from azure.identity import DefaultAzureCredential  # deployment-only dependency

                    self._credential = DefaultAzureCredential()
                access = self._credential.get_token(self.scope)
                self._token, self._expires_on = access.token, float(access.expires_on)
            return self._token
