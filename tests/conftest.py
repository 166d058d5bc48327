"""Root conftest: shared by the Home Assistant venv and the add-on venv, so it imports neither."""
