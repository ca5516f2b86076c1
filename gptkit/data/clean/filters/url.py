"""URL block-list: drop documents whose ``metadata.url`` host is a blocked domain or its subdomain."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from gptkit.data.clean.config import UrlFilterConfig
from gptkit.errors import InputError
from gptkit.io.shards import Document


def load_domains(cfg: UrlFilterConfig) -> set[str]:
    domains = {d.strip().lower().lstrip(".") for d in cfg.domains if d.strip()}
    for name in cfg.domain_files:
        path = Path(name)
        if not path.is_file():
            raise InputError("URL block-list file not found", path)
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.split("#", 1)[0].strip().lower().lstrip(".")
            if line:
                domains.add(line)
    return domains


class UrlFilter:
    name = "url_filter"

    def __init__(self, cfg: UrlFilterConfig):
        self.domains = load_domains(cfg)

    def __call__(self, doc: Document) -> str | None:
        url = doc["metadata"].get("url")
        if not isinstance(url, str):
            return None
        host = (urlsplit(url).hostname or "").lower()
        parts = host.split(".")
        for i in range(len(parts)):
            if ".".join(parts[i:]) in self.domains:
                return "blocked_domain"
        return None
