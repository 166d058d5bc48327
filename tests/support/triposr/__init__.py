"""A tiny random-weight TripoSR checkpoint for tests (made by tiny.py in the TripoSR venv)."""
