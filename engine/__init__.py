"""The Engine: a self-hosted agentic runtime behind one HTTP API."""

__version__ = "0.1.0"
