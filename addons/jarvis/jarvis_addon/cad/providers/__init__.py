"""CAD providers: one module per system (CadQuery locally, Zoo, Tripo, TripoSR)."""
