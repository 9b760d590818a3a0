"""qwen-review: review git changes with a Qwen (or any OpenAI-compatible) model."""

__version__ = "0.1.0"
