"""The control endpoint of a running `devloop up` and its client (`devloop status`, `logs`, `trigger`)."""
