"""Model providers: `openai_compat.ChatClient` talks to the model; `retry` holds the retry policy (no heavy imports here)."""
