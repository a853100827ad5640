"""Where the function's rules come from: the default pack, an SSM parameter or an S3 object.

Users replace the rules without redeploying code. The text is fetched through Powertools Parameters
providers, which cache it for ``POWERTOOLS_PARAMETERS_MAX_AGE`` seconds (default 5): a changed
document reaches warm functions within that time. An invalid document raises
:class:`~trailsift.rules.RulesError` carrying the validation message, so a bad override fails loudly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trailsift.engine import RuleEngine
from trailsift.rules import RuleSet, decode_document, default_rules, rules_from_document

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import BaseProvider
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ssm import SSMClient


class ConfiguredRules:
    """The rule engine for a rules location, rebuilt only when the fetched text changes.

    Without a client given, it makes one with trailsift's retry policy (:mod:`trailsift.aws.clients`).
    """

    def __init__(self, spec: str, *, ssm_client: SSMClient | None = None, s3_client: S3Client | None = None) -> None:
        if spec and not spec.startswith(("ssm:", "s3://")):
            raise ValueError(f"unknown rules location {spec!r}: expected '', 'ssm:<name>' or 's3://bucket/key'")
        self.spec = spec
        self._ssm_client = ssm_client
        self._s3_client = s3_client
        self._provider: BaseProvider | None = None
        self._text: str | bytes | None = None
        self._current: tuple[RuleSet, RuleEngine] | None = None

    def get(self) -> tuple[RuleSet, RuleEngine]:
        """The current rules and their engine; raises ``RulesError`` for an invalid document."""
        if not self.spec:
            if self._current is None:
                rules = default_rules()
                self._current = (rules, RuleEngine(rules))
            return self._current
        text = self._fetch()
        if self._current is None or text != self._text:
            rules = rules_from_document(decode_document(text, self.spec), source=self.spec)
            self._current, self._text = (rules, RuleEngine(rules)), text
        return self._current

    def _fetch(self) -> str | bytes:
        if self._provider is None:  # imported here: the default pack needs neither Powertools Parameters nor boto3
            from trailsift.aws.clients import new_client

            if self.spec.startswith("ssm:"):
                from aws_lambda_powertools.utilities.parameters import SSMProvider

                ssm = self._ssm_client if self._ssm_client is not None else new_client("ssm")
                self._provider = SSMProvider(boto3_client=ssm)
            else:
                from trailsift.aws.s3_provider import S3ObjectProvider

                s3 = self._s3_client if self._s3_client is not None else new_client("s3")
                self._provider = S3ObjectProvider(s3)
        name = self.spec[4:] if self.spec.startswith("ssm:") else self.spec[5:]
        value = self._provider.get(name)
        assert isinstance(value, (str, bytes))
        return value
