"""The served world's logs, with personal data masked like the bodies.

``lendsim serve`` hands uvicorn :func:`log_config`: the access log shows each
request's path through :func:`~simulator.core.privacy.mask_path` (a segment that
is not a plain token becomes ``…``, ID and phone numbers are masked, a query string
becomes ``?…``), and every other line — lendsim's own and uvicorn's, tracebacks
included — goes through :func:`~simulator.core.privacy.redact`.
"""

from __future__ import annotations

import logging
from typing import Any

from uvicorn.logging import DefaultFormatter

from simulator.core.privacy import mask_path, redact

__all__ = ["MaskPaths", "MaskingFormatter", "log_config"]


class MaskPaths(logging.Filter):
    """Masks the path of an access-log record (uvicorn's ``(client, method, path, http
    version, status)`` arguments) before anything formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], mask_path(args[2]), args[3], args[4])
        return True


class MaskingFormatter(DefaultFormatter):
    """uvicorn's formatter, with ID numbers, SSNs and phone numbers masked in the line."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration, masking as the module says; lendsim's own loggers
    (``lendsim.*``) log at INFO beside uvicorn's."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"mask_paths": {"()": "simulator.serve.logs.MaskPaths"}},
        "formatters": {
            "default": {"()": "simulator.serve.logs.MaskingFormatter",
                        "fmt": "%(levelprefix)s %(message)s", "use_colors": None},
            "access": {"()": "uvicorn.logging.AccessFormatter",
                       "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" '
                              "%(status_code)s"},
        },
        "handlers": {
            "default": {"formatter": "default", "class": "logging.StreamHandler",
                        "stream": "ext://sys.stderr"},
            "access": {"formatter": "access", "class": "logging.StreamHandler",
                       "stream": "ext://sys.stdout", "filters": ["mask_paths"]},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False,
                               "filters": ["mask_paths"]},
            "lendsim": {"handlers": ["default"], "level": "INFO", "propagate": False},
        },
    }
