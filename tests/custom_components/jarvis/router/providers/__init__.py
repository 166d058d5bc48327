"""Provider modules against loopback servers speaking each provider's documented wire format."""
