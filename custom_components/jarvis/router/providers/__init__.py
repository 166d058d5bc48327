"""One module per provider SDK; all implement providers.base.Provider."""
