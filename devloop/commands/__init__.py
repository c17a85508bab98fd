"""One module per command; each exposes ``run(env, ...) -> int``."""
