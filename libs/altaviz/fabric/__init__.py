"""Microsoft Fabric: REST client and Git-format items."""

#: The Fabric REST API root every client, command and notebook defaults to (one place).
FABRIC_API_URL = "https://api.fabric.microsoft.com/v1"
