"""Typed CAD errors. Every one carries a stable `code` (HTTP bodies, MQTT job payloads, HA errors)."""

from __future__ import annotations

from typing import ClassVar


class CadError(Exception):
    """Base of every CAD failure; `str(err)` is a sentence a person can act on."""

    code: ClassVar[str] = "cad_error"


class InvalidRequestError(CadError):
    """The request cannot be built: impossible or missing dimensions, empty prompt, bad parameter."""

    code = "invalid_request"


class UnknownPartError(InvalidRequestError):
    """No template for the part kind that was asked for."""

    code = "unknown_part"


class ProviderError(CadError):
    """A provider answered with an error (or nothing usable)."""

    code = "provider_error"

    def __init__(self, provider: str, message: str) -> None:
        """Name the provider in the message."""
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class ProviderTimeoutError(ProviderError):
    """A provider did not answer (or finish) in time."""

    code = "provider_timeout"


class CreditsExhaustedError(ProviderError):
    """The provider account has no credits (or the billing threshold is reached)."""

    code = "credits_exhausted"


class ProviderUnavailableError(ProviderError):
    """The provider is not configured, offline mode is on, or the budget does not allow it."""

    code = "provider_unavailable"


class SandboxRejectedError(CadError):
    """Model-written code broke the sandbox policy before it ran."""

    code = "sandbox_rejected"


class SandboxKilledError(CadError):
    """Model-written code ran out of CPU time, memory or wall time and was killed."""

    code = "sandbox_killed"


class SandboxFailedError(CadError):
    """Model-written code ran and raised, or produced no valid solid."""

    code = "sandbox_failed"


class GeometryInvalidError(CadError):
    """The generated geometry failed validation (not a valid solid, empty, not watertight)."""

    code = "geometry_invalid"


class WeightsMissingError(ProviderUnavailableError):
    """The local image-to-mesh model's weights are not where they were configured."""

    code = "weights_missing"


class WeightsInvalidError(ProviderError):
    """The local model's checkpoint is not the configured one (sha256), unreadable, or unsafe."""

    code = "weights_invalid"


class ImageInvalidError(InvalidRequestError):
    """The input image cannot be read (or holds nothing)."""

    code = "image_invalid"


class OutOfMemoryError(ProviderError):
    """A local model ran out of memory (or was killed by the kernel for it)."""

    code = "out_of_memory"


class WeightsUnsafeError(WeightsInvalidError):
    """The checkpoint holds more than tensors (pickled code) and was refused unread."""

    code = "weights_unsafe"
