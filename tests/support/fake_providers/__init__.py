"""Loopback fakes of the model providers' wire formats, for the official SDKs under test."""
