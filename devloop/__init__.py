"""devloop: inner-loop continuous development on Kubernetes and the local Docker engine."""

__version__ = "0.1.0"
