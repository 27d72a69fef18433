"""Pulling plate exports from where labs deliver them: a folder (read in place), an SFTP drop, or
S3-compatible object storage (through fsspec), into ``<warehouse>/landing/<source>/``.

Rules, each a promise to the lab and the auditor:
- only bytes never seen before are copied (a ledger per source remembers path, size, modification
  stamp and SHA-256, so an unchanged file is neither downloaded nor hashed again; a renamed copy of a
  known file is downloaded, recognised by its SHA-256 and not kept twice);
- nothing is deleted at the source unless the source says ``delete_after_pull: true``, and then only after
  the local copy is written and synced;
- credentials come from environment variables (or a Prefect Secret block) named in the configuration;
- a source that cannot be reached raises SourceUnavailable naming the source, host and what to check,
  so the flow records it and goes on with the other sources.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.observe import SourceReport
from schemas.operations import FolderSource, S3Source, SftpSource, Source

LEDGER_NAME = ".pulled.json"  # hidden: discovery skips it
_PARTIAL = (".tmp", ".part", ".crdownload", ".partial", ".filepart")


class SourceUnavailable(Exception):
    """A delivery source could not be listed or read (network, credentials, missing folder)."""


class SourceConfigError(Exception):
    """A source's configuration cannot be used (e.g. a credential variable is not set)."""


@dataclass(frozen=True)
class RemoteEntry:
    path: str  # full path on the source
    rel: str  # path relative to the source root (kept in the landing area)
    size: int
    stamp: str  # modification time or ETag: with size, says "unchanged since last pull"


def landing_dir(warehouse_root: Path, source_name: str) -> Path:
    return Path(warehouse_root) / "landing" / source_name


def _env(name: str | None, what: str, source: str) -> str | None:
    if name is None:
        return None
    value = os.environ.get(name)
    if not value:
        raise SourceConfigError(
            f"source {source!r}: the {what} is read from environment variable {name}, which is not set; "
            "set it in the worker's environment (never in the repository)"
        )
    return value


def _secret_block(block: str, source: str) -> tuple[str, str]:
    try:
        from prefect.blocks.system import Secret

        secret: Any = Secret.load(block)
        value = str(secret.get())
    except Exception as exc:
        raise SourceConfigError(
            f"source {source!r}: Prefect Secret block {block!r} could not be loaded ({exc}); create it "
            "with the value ACCESS_KEY:SECRET_KEY"
        ) from None
    key, _, secret = value.partition(":")
    return key, secret


def _known_hosts_policy(known_hosts: str) -> Any:
    """Accept only a host key listed in the configured known_hosts file (paramiko asks the policy about
    every key it does not already know, and our client knows none)."""
    import paramiko

    keys = paramiko.HostKeys(known_hosts)

    class KnownHostsOnly(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            if not keys.check(hostname, key):
                raise SourceUnavailable(
                    f"the host key of {hostname} is not the one in the configured known_hosts file "
                    f"{known_hosts}; refusing to connect (the server was reinstalled, or it is not the lab's)"
                )

    return KnownHostsOnly()


def open_filesystem(src: SftpSource | S3Source) -> tuple[Any, str]:
    """An fsspec filesystem for the source and the root path on it; errors say what to check."""
    if isinstance(src, SftpSource):
        from fsspec.implementations.sftp import SFTPFileSystem

        kwargs: dict[str, Any] = {
            "port": src.port,
            "username": _env(src.username_env, "user name", src.name),
            "timeout": src.timeout_s,
            "banner_timeout": src.timeout_s,
            "auth_timeout": src.timeout_s,
            "allow_agent": False,
            "look_for_keys": False,
        }
        if src.password_env:
            kwargs["password"] = _env(src.password_env, "password", src.name)
        if src.key_file_env:
            kwargs["key_filename"] = _env(src.key_file_env, "private key file", src.name)
        if src.known_hosts:
            kwargs["host_key_policy"] = _known_hosts_policy(src.known_hosts)
        try:
            fs = SFTPFileSystem(src.host, skip_instance_cache=True, **kwargs)
        except SourceConfigError:
            raise
        except SourceUnavailable as exc:
            raise SourceUnavailable(f"source {src.name!r}: {exc}") from None
        except Exception as exc:
            raise SourceUnavailable(
                f"source {src.name!r}: cannot connect to sftp://{src.host}:{src.port} ({type(exc).__name__}: "
                f"{exc}); check that the server is up, the address and the credentials"
            ) from None
        return fs, src.path
    import s3fs

    key = _env(src.access_key_env, "access key", src.name)
    secret = _env(src.secret_key_env, "secret key", src.name)
    if src.credentials_block:
        key, secret = _secret_block(src.credentials_block, src.name)
    client_kwargs: dict[str, Any] = {}
    if src.region:
        client_kwargs["region_name"] = src.region
    fs = s3fs.S3FileSystem(
        key=key,
        secret=secret,
        endpoint_url=src.endpoint_url,
        client_kwargs=client_kwargs,
        skip_instance_cache=True,
        config_kwargs={
            "connect_timeout": src.timeout_s,
            "read_timeout": src.timeout_s,
            "retries": {"max_attempts": 2},
        },
    )
    fs.retries = 2  # s3fs's own back-off would wait ~1 min on a dead endpoint; the flow retries the pull
    return fs, posixpath.join(src.bucket, src.prefix.strip("/")).rstrip("/")


def _listing(fs: Any, root: str, src: SftpSource | S3Source) -> list[RemoteEntry]:
    where = f"sftp://{src.host}:{src.port}/{root}" if isinstance(src, SftpSource) else f"s3://{root}"
    try:
        found = fs.find(root, detail=True)
    except Exception as exc:
        raise SourceUnavailable(
            f"source {src.name!r}: cannot list {where} ({type(exc).__name__}: {exc}); check that the "
            "folder/bucket exists and the credentials may read it"
        ) from None
    out: list[RemoteEntry] = []
    for path, info in sorted(found.items()):
        if info.get("type") not in ("file", None):
            continue
        rel = posixpath.relpath(path, root) if root not in ("", ".") else path
        name = posixpath.basename(path)
        if name.startswith(".") or name.startswith("~$") or name.endswith(_PARTIAL):
            continue
        if not any(fnmatch.fnmatch(name, pat) for pat in src.include):
            continue
        stamp = info.get("ETag") or info.get("mtime") or info.get("LastModified") or ""
        out.append(RemoteEntry(path=path, rel=rel, size=int(info.get("size") or 0), stamp=str(stamp)))
    return out


def _load_ledger(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _save_ledger(path: Path, ledger: dict[str, dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(ledger, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _write_durably(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)


def pull_source(src: SftpSource | S3Source, warehouse_root: Path, *, rescan: bool = False) -> SourceReport:
    """Copy the source's new files into its landing folder; returns what happened.

    ``rescan`` ignores the size/stamp shortcut and re-reads every file (bytes already held are still not
    kept twice). Raises SourceUnavailable / SourceConfigError for a source that cannot be read."""
    landing = landing_dir(warehouse_root, src.name)
    landing.mkdir(parents=True, exist_ok=True)
    ledger_path = landing / LEDGER_NAME
    ledger = _load_ledger(ledger_path)
    have = {v["sha256"] for v in ledger.values()}
    fs, root = open_filesystem(src)
    copied = skipped = deleted = 0
    try:
        for e in _listing(fs, root, src):
            prev = ledger.get(e.path)
            if not rescan and prev and prev["size"] == e.size and prev["stamp"] == e.stamp:
                skipped += 1
                continue
            try:
                data = fs.cat_file(e.path)
            except Exception as exc:
                raise SourceUnavailable(
                    f"source {src.name!r}: reading {e.path} failed ({type(exc).__name__}: {exc}); "
                    f"{copied} new file(s) were copied before the failure and are kept"
                ) from None
            sha = hashlib.sha256(data).hexdigest()
            if sha in have:
                skipped += 1
            else:
                _write_durably(landing / e.rel, data)
                have.add(sha)
                copied += 1
            ledger[e.path] = {"size": e.size, "stamp": e.stamp, "sha256": sha}
            _save_ledger(ledger_path, ledger)
            if src.delete_after_pull:
                fs.rm_file(e.path)
                deleted += 1
    finally:
        _save_ledger(ledger_path, ledger)
        close = getattr(getattr(fs, "client", None), "close", None)
        if callable(close):
            close()
    return SourceReport(
        name=src.name, kind=src.kind, ok=True, copied=copied, skipped=skipped, deleted=deleted, message=""
    )


def folder_roots(sources: list[Source], inbox: Path) -> tuple[list[Path], list[SourceReport]]:
    """Folders read in place: the inbox, then the other folder sources that exist. A configured folder
    that is missing (an unmounted share) is reported as a failed source rather than read as empty."""
    roots = [Path(inbox)]
    failed: list[SourceReport] = []
    for s in sources:
        if not isinstance(s, FolderSource) or not s.path:
            continue
        p = Path(s.path).expanduser().resolve()
        if not p.is_dir():
            msg = f"source {s.name!r}: folder {p} does not exist or is not mounted; check the share"
            failed.append(SourceReport(name=s.name, kind=s.kind, ok=False, message=msg))
        elif p not in roots:
            roots.append(p)
    return roots, failed


def remote_sources(sources: list[Source]) -> list[SftpSource | S3Source]:
    return [s for s in sources if isinstance(s, SftpSource | S3Source)]
