"""Microsoft Fabric: REST client and Git-format items."""
