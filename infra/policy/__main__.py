"""The Altaviz security-baseline policy pack: `pulumi preview --policy-pack infra/policy` (constructing blocks)."""

from altaviz_policies import altaviz_policies
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name="altaviz-security-baseline", enforcement_level=EnforcementLevel.MANDATORY,
           policies=altaviz_policies())
