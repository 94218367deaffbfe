"""The bottom layer: every user-facing error type, the one Registry type, environment limits and free memory,
text for messages, the data root. Imports nothing else of engine."""
