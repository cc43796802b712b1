"""Deployment to Microsoft Fabric: item definitions, the altaviz wheel, and Pulumi dynamic resources."""
