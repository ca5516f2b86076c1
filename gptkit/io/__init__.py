"""File formats and artefact conventions shared by every stage.

The only place that knows how document shards, manifests and atomic writes work:
stages call it and never open a ``.zst`` themselves.
"""
