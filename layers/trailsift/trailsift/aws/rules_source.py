"""Where the function's rules come from: built-in packs, an SSM parameter or an S3 object, or packs and one of those.

The setting (``TRAILSIFT_RULES``, :func:`trailsift.rules.parse_rules_setting`) is empty (the default
pack), ``default,ssm`` (packs), ``ssm:<parameter name>`` or ``s3://bucket/key`` (that document alone, as
before packs could be named), or packs and one document (``ssm,s3://bucket/key``: combined, names
unique). Packs load once, without their test cases (the function runs no test); a document is
fetched as below.

Users replace the rules without redeploying code. The text is fetched through Powertools Parameters
providers, which cache it for ``POWERTOOLS_PARAMETERS_MAX_AGE`` seconds (default 5): a changed
document reaches warm functions within that time. An invalid document raises
:class:`~trailsift.rules.RulesError` carrying the validation message, so a bad override fails loudly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trailsift.engine import RuleEngine
from trailsift.rules import (
    RuleSet,
    combine_rules,
    decode_document,
    pack_rules,
    parse_rules_setting,
    rules_from_document,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import BaseProvider
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ssm import SSMClient


class ConfiguredRules:
    """The rule engine for a rules location, rebuilt only when the fetched text changes.

    Without a client given, it makes one with trailsift's retry policy (:mod:`trailsift.aws.clients`).
    """

    def __init__(self, spec: str, *, ssm_client: SSMClient | None = None, s3_client: S3Client | None = None) -> None:
        setting = parse_rules_setting(spec)  # a RulesError (a ValueError) naming the item at fault
        self.spec = spec
        self.packs = setting.packs
        self.location = setting.location
        self._ssm_client = ssm_client
        self._s3_client = s3_client
        self._provider: BaseProvider | None = None
        self._text: str | bytes | None = None
        self._current: tuple[RuleSet, RuleEngine] | None = None

    def get(self) -> tuple[RuleSet, RuleEngine]:
        """The current rules and their engine; raises ``RulesError`` for an invalid document."""
        if self.location is None:
            if self._current is None:
                rules = combine_rules([pack_rules(name, with_tests=False) for name in self.packs or ("default",)])
                self._current = (rules, RuleEngine(rules))
            return self._current
        text = self._fetch()
        if self._current is None or text != self._text:
            document = rules_from_document(decode_document(text, self.location), source=self.location)
            rules = combine_rules([*(pack_rules(name, with_tests=False) for name in self.packs), document])
            self._current, self._text = (rules, RuleEngine(rules)), text
        return self._current

    def _fetch(self) -> str | bytes:
        if self._provider is None:  # imported here: the default pack needs neither Powertools Parameters nor boto3
            from trailsift.aws.clients import new_client

            if self.location is not None and self.location.startswith("ssm:"):
                from aws_lambda_powertools.utilities.parameters import SSMProvider

                ssm = self._ssm_client if self._ssm_client is not None else new_client("ssm")
                self._provider = SSMProvider(boto3_client=ssm)
            else:
                from trailsift.aws.s3_provider import S3ObjectProvider

                s3 = self._s3_client if self._s3_client is not None else new_client("s3")
                self._provider = S3ObjectProvider(s3)
        assert self.location is not None
        name = self.location[4:] if self.location.startswith("ssm:") else self.location[5:]
        value = self._provider.get(name)
        assert isinstance(value, (str, bytes))
        return value
