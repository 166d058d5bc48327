"""The model router: pure core (no Home Assistant, no network) plus one module per provider SDK.

types.py is the contract every part shares; see docs/router.md for the design.
"""
