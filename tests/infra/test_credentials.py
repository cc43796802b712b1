"""The deployment's Fabric token: the environment variable when set, else DefaultAzureCredential, cached."""

from __future__ import annotations

from azure.core.credentials import AccessToken

from altaviz.fabric.credentials import FABRIC_SCOPE, TOKEN_ENV, _CachedCredentialToken, fabric_token_provider


def test_token_from_the_environment_wins(monkeypatch):
    """ALTAVIZ_FABRIC_TOKEN, when set, is the token (tests and CI jobs that fetch one themselves)."""
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert fabric_token_provider()() == "from-env"


def test_default_credential_token_is_reused_until_five_minutes_before_expiry(monkeypatch):
    """DefaultAzureCredential is asked for the Fabric scope once, and again only when the token nears expiry."""
    asked: list[str] = []

    class Credential:
        def get_token(self, scope: str) -> AccessToken:
            asked.append(scope)
            return AccessToken(f"token-{len(asked)}", 1000 + 3600)

    monkeypatch.setattr("azure.identity.DefaultAzureCredential", Credential)
    now = [1000.0]
    tokens = _CachedCredentialToken(FABRIC_SCOPE, clock=lambda: now[0])

    assert [tokens(), tokens()] == ["token-1", "token-1"]
    now[0] = 1000 + 3600 - 301
    assert tokens() == "token-1"
    now[0] += 2
    assert tokens() == "token-2"
    assert asked == ["https://api.fabric.microsoft.com/.default"] * 2
