"""PII masking as in FineWeb: emails and public IP addresses become fixed example values."""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from gptkit.data.clean.config import PiiConfig
from gptkit.io.shards import Document

if TYPE_CHECKING:
    from gptkit.data.clean.steps import ShardContext

EMAIL = re.compile(
    r"\b[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@"
    r"(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)"
)
IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|[01]?\d\d?)\.){3}(?:25[0-5]|2[0-4]\d|[01]?\d\d?)(?!\.?\d)")
EMAIL_REPLACEMENTS = ("email@example.com", "firstname.lastname@example.org")
#: Addresses that did not answer pings when datatrove chose them.
IP_REPLACEMENTS = ("22.214.171.124", "126.96.36.199", "188.8.131.52", "184.108.40.206", "220.127.116.11", "18.104.22.168")


class PiiMasker:
    """Replace emails and (public) IPv4 addresses, cycling through the replacement values."""

    def __init__(self, cfg: PiiConfig):
        self.cfg = cfg

    def __call__(self, text: str) -> tuple[str, int]:
        """The masked text and the number of replacements."""
        n = 0

        def cycle(values: tuple[str, ...], validate=None):
            def replace(m: re.Match) -> str:
                nonlocal n
                if validate is not None and not validate(m.group()):
                    return m.group()
                n += 1
                return values[(n - 1) % len(values)]

            return replace

        if self.cfg.emails and "@" in text:
            text = EMAIL.sub(cycle(EMAIL_REPLACEMENTS), text)
        if self.cfg.ips:
            text = IPV4.sub(cycle(IP_REPLACEMENTS, self._is_masked_ip), text)
        return text, n

    def _is_masked_ip(self, value: str) -> bool:
        try:
            return not self.cfg.only_public_ips or ipaddress.ip_address(value).is_global
        except ValueError:
            return False


class PiiStep:
    """The shard step: mask PII in place, counting the replacements."""

    name = "pii"

    def __init__(self, cfg: PiiConfig):
        self.mask = PiiMasker(cfg)

    def __call__(self, doc: Document, ctx: ShardContext) -> tuple[str | None, list[Document]]:
        doc["text"], n = self.mask(doc["text"])
        ctx.counts["pii_replacements"] += n
        return None, [doc]
