"""Domain exceptions, each carrying the HTTP status it maps to in ``payments.http``."""

from __future__ import annotations


class ApiError(Exception):
    status_code = 500
    public_message = "Internal server error"

    def __init__(self, message: str | None = None, headers: dict[str, str] | None = None, **fields: object) -> None:
        super().__init__(message or self.public_message)
        self.message = message or self.public_message
        self.headers = headers or {}
        # Facts the caller acts on, beside the message (e.g. how many a pass already admitted).
        self.fields = fields


class BadRequest(ApiError):
    status_code = 400
    public_message = "Bad request"


class InvalidField(BadRequest):
    """A request field that failed a rule: a 400 whose message starts with the field's name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Unauthorized(ApiError):
    status_code = 401
    public_message = "Authentication required"


# What API Gateway's HTTP API answers a request its JWT authorizer refuses; it cannot be changed.
UNAUTHORIZED_BODY = {"message": "Unauthorized"}


class AuthorizerRefused(Unauthorized):
    """A token the HTTP API's JWT authorizer would refuse, met where a function plays that authorizer
    (under sam local only): answered as API Gateway answers it, with its ``{"message": "Unauthorized"}``
    body and ``www-authenticate`` header (``headers``), not with our ``{"error"}``; ``message`` is the
    reason, for the log."""


class Forbidden(ApiError):
    status_code = 403
    public_message = "You do not have permission to access this resource"


class NotFound(ApiError):
    status_code = 404
    public_message = "Not found"


class Conflict(ApiError):
    status_code = 409
    public_message = "Conflict"


class Busy(ApiError):
    """Contention or throttling outlasted our retries: the caller may simply retry."""

    status_code = 503
    public_message = "Too many requests for the same item right now; please retry"

    def __init__(self, message: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message, {"Retry-After": str(retry_after)})


class NotApplicable(BadRequest):
    """A provider's fact that cannot apply to our records (another ticket's session, a wrong amount):
    a permanent rejection, acknowledged to a webhook and logged for a person."""


class UnknownObject(NotFound):
    """A provider's object that no record of ours refers to: a permanent rejection for a webhook."""


class Unprocessable(ApiError):
    status_code = 422
    public_message = "Unprocessable request"


class PayloadTooLarge(ApiError):
    status_code = 413
    public_message = "Request body is too large"


class ProviderRejected(BadRequest):
    """The payment provider refused the request (card declined, invalid request)."""


class ChargeDisputed(ProviderRejected):
    """Stripe refuses to refund a charge its customer disputed: the dispute decides where the money goes."""


class ProviderFailure(ApiError):
    status_code = 502
    public_message = "The payment provider failed to answer; please retry"


class ProviderUnavailable(ApiError):
    """The provider throttled or could not be reached past our backoff: the caller may retry, told when."""

    status_code = 503
    public_message = "The payment provider is unavailable; please retry shortly"

    def __init__(self, message: str | None = None, retry_after: int = 2) -> None:
        super().__init__(message, {"Retry-After": str(retry_after)})


class ConfigurationError(ApiError):
    """A missing secret or setting: a server fault, never the caller's."""

    status_code = 500
    public_message = "Internal server error"
