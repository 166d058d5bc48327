"""Printers: one interface over OctoPrint and Moonraker, print jobs, MQTT commands and discovery."""
