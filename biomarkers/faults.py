"""Infrastructure faults as one plain paragraph: what is wrong, what happened to the data, what to do.

A full disk, a read-only or missing warehouse, a damaged database or an unreachable Prefect server is not a
defect of the pipeline: the person at the terminal needs one paragraph and a non-zero exit, never the
tracebacks Prefect and DuckDB print (issue 14: 184 lines and six tracebacks for a full disk). An exception
that is none of these is a defect and keeps its traceback (printed once, by Python).
"""

from __future__ import annotations

import errno
import logging
import os
import re

from warehouse.health import DAMAGED_WORDS, DENIED, DISK_FULL, READ_ONLY, damaged_message, exception_chain

_PATH = re.compile(r'"(/[^"]+)"|\'(/[^\']+)\'')


def _where(e: BaseException) -> str:
    """The file an error names (OSError.filename, or a quoted path in DuckDB's text), else ""."""
    name = getattr(e, "filename", None)
    if isinstance(name, str) and name:
        return name
    m = _PATH.search(str(e))
    return (m.group(1) or m.group(2)) if m else ""


def explain(exc: BaseException) -> str | None:
    """One paragraph for an infrastructure fault anywhere in ``exc``'s chain, else None (a defect)."""
    for e in exception_chain(exc):
        text = str(e)
        code = e.errno if isinstance(e, OSError) else None
        where = _where(e)
        at = f" ({where})" if where else ""
        if code in DISK_FULL or "No space left on device" in text or "Disk quota exceeded" in text:
            return (
                f"the disk holding the warehouse is full{at}. The file being loaded was rolled back; files "
                "loaded before it stay loaded, and nothing is lost (the inbox is untouched). Free space on "
                "that disk (or move the warehouse to a larger one), then run the command again: it carries "
                "on where this one stopped."
            )
        if code == errno.EFBIG or "File too large" in text:
            return (
                f"a file of the warehouse hit the size limit for files on this system{at}. The file being "
                "loaded was rolled back; files loaded before it stay loaded. Raise the limit (ulimit -f) or "
                "move the warehouse to a file system without it, then run the command again."
            )
        if code in READ_ONLY or "Read-only file system" in text:
            return (
                f"the warehouse is on a read-only file system{at}, so nothing could be written and nothing "
                "was loaded. Make it writable again (a disk error can make the system remount it read-only: "
                "tell the system administrator), or pass --warehouse with a writable folder, then run the "
                "command again."
            )
        if code in DENIED or "Permission denied" in text:
            return (
                f"permission denied writing the warehouse{at}, so nothing was loaded. Run the command as "
                "the account that owns the warehouse (the ingestion service account), or ask the system "
                "administrator to give it write access, then run it again."
            )
        if any(w in text for w in DAMAGED_WORDS):
            return damaged_message(where, text)
        if "Failed to reach API at" in text or type(e).__name__ in ("ConnectError", "ConnectTimeout"):
            url = os.environ.get("PREFECT_API_URL", "")
            why = text.splitlines()[0] if text else type(e).__name__
            return (
                f"the Prefect server{f' at {url}' if url else ''} cannot be reached ({why}), "
                "so the run could not start and nothing was loaded. Start the server (`biomarkers up`) or "
                "ask whoever runs it; or unset PREFECT_API_URL to run with a temporary server of its own. "
                "Then run the command again."
            )
    return None


class _EngineFailures(logging.Filter):
    """Drops Prefect's own reports of a failing task or flow (each with a traceback) from the console:
    the command explains the failure itself, in one paragraph. The run page keeps them (API handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(("prefect.flow_runs", "prefect.task_runs")):
            return True
        msg = str(record.msg)
        return not (record.exc_info or msg.startswith("Finished in state Failed"))


def quiet_prefect_failures() -> None:
    """Install :class:`_EngineFailures` on Prefect's console handler (after Prefect set up logging)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and not any(
            isinstance(f, _EngineFailures) for f in handler.filters
        ):
            handler.addFilter(_EngineFailures())


def prefect_unreachable() -> str | None:
    """When PREFECT_API_URL names a server, ask it for its health (5 s at most) before a run: a server
    that is down is said at once, instead of after the client's retries (a minute)."""
    url = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    if not url:
        return None
    import httpx

    try:
        httpx.get(f"{url}/health", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        return (
            f"the Prefect server at {url} cannot be reached ({type(exc).__name__}: {exc}), so the run could "
            "not start and nothing was loaded. Start the server (`biomarkers up`) or ask whoever runs it; or "
            "unset PREFECT_API_URL to run with a temporary server of its own. Then run the command again."
        )
    return None
