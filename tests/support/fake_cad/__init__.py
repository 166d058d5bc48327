"""Loopback fakes of Zoo's copilot websocket and Tripo's apiv3 REST API, for the official SDKs."""
