"""The container's one structured logger (Powertools; the service name from POWERTOOLS_SERVICE_NAME).

A module of its own so that ``metrics`` can log a metric it could not write without importing
``observability``, which hands every audit line to ``metrics``: no import cycle between the two."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger()
