"""Client for the Jarvis add-on: its HTTP API (and, later, its MQTT topics)."""
