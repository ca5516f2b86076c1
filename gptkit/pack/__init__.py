"""Token shards and the deterministic, resumable loader."""
