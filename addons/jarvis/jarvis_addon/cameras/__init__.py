"""Camera sources: HA camera entities (Core API proxy), UniFi Protect (uiprotect), plain URLs."""
