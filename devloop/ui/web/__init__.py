"""The web UI a running `devloop up` serves on loopback: ``server`` (HTTP, JSON, the live stream),
``guard`` (which requests are refused, pure) and ``static/`` (the page: plain HTML, CSS and JavaScript).

This module stays light (the command line reads :data:`DEFAULT_PORT` from it at start-up)."""

DEFAULT_PORT = 10350
