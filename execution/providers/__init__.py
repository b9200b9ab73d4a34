"""Model providers behind the interface in execution/llm.py (chosen by ENGINE_MODEL)."""
