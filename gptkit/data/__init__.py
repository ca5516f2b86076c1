"""Corpus stages: URL sources, crawling, extraction, cleaning."""
