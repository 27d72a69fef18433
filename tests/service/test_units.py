"""Fast checks of the service's plain parts, without a server: names, sessions, registry, verdicts."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.discover import discover
from readers.base import FileInput
from schemas.config import Config
from service.auth import BadLabNameError, Signer, check_lab_name, hash_token, issue_token, lab_for_token
from service.intake import RefusedUploadError, check_assay, check_file_name, place_for_ingestion
from service.registry import LabExistsError, Registry, UnknownLabError
from service.verdict import ManifestCache, ManifestUnavailableError, build_verdict
from synth.generator import generate_study


@pytest.mark.parametrize("name", ["LX-NTF-CSF-P001.csv", "plate 3 (rerun).txt", "Gen5_export+map.xlsx"])
def test_plain_names_pass(name: str) -> None:
    assert check_file_name(name) == name


@pytest.mark.parametrize(
    "name", ["../x.csv", "a/b.csv", "a\\b.csv", "..", ".bashrc", "", "x\x00.csv", "~$lock.xlsx", "a" * 201]
)
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(RefusedUploadError):
        check_file_name(name)


@given(st.text(min_size=1, max_size=60))
def test_no_accepted_name_can_leave_its_folder(name: str) -> None:
    try:
        ok = check_file_name(name)
    except RefusedUploadError:
        return
    base = Path("/srv/uploads/abc")
    assert (base / ok).resolve().parent == base


def test_hand_off_folder_is_named_by_content(tmp_path: Path) -> None:
    folder = place_for_ingestion(tmp_path, "ab" * 32, "grid.txt", b"od", platemap=b"map")
    assert folder == tmp_path / ("ab" * 32)
    assert sorted(p.name for p in folder.iterdir()) == ["grid.txt", "grid_platemap.csv"]


def test_the_assay_chosen_travels_beside_the_upload_to_ingestion(tmp_path: Path) -> None:
    """The note the service writes is what discovery gives the file's processing, on upload runs only."""
    folder = place_for_ingestion(tmp_path, "ab" * 32, "grid.txt", b"od", lab="lab-a", assay="ELISA-HGF")
    assert (folder / ".assay").read_text() == "ELISA-HGF\n"
    [c] = discover(tmp_path, [], uploads=True).new
    assert (c.name, c.lab, c.assay) == ("grid.txt", "lab-a", "ELISA-HGF")
    assert discover(tmp_path, [], uploads=False).new[0].assay is None  # a shared folder names no assay
    place_for_ingestion(tmp_path, "ab" * 32, "grid.txt", b"od")  # handed over again without one
    assert not (folder / ".assay").exists() and discover(tmp_path, [], uploads=True).new[0].assay is None


def test_only_a_configured_assay_is_taken() -> None:
    assert check_assay(None, ["LX-NTF"]) is None and check_assay("  ", ["LX-NTF"]) is None
    assert check_assay(" LX-NTF ", ["LX-NTF", "ELISA-HGF"]) == "LX-NTF"
    with pytest.raises(RefusedUploadError, match=r"'lx-ntf' is not one of the configured assays \(LX-NTF\)"):
        check_assay("lx-ntf", ["LX-NTF"])


def test_session_cookie_cannot_be_forged_or_outlive_its_expiry() -> None:
    signer = Signer(b"k" * 32)
    cookie = signer.session("tok1", hours=1)
    assert signer.session_token_id(cookie) == "tok1"
    tid, expiry, mac = cookie.split(".")
    assert signer.session_token_id(f"tok2.{expiry}.{mac}") is None
    assert signer.session_token_id(f"{tid}.{int(expiry) + 999}.{mac}") is None
    assert Signer(b"x" * 32).session_token_id(cookie) is None
    assert signer.session_token_id(cookie, now=time.time() + 3601) is None
    assert signer.check_csrf_for_session(cookie, signer.csrf_for_session(cookie))
    assert not signer.check_csrf_for_session(cookie, signer.csrf_for_session(signer.session("tok1", 2)))
    assert not signer.check_csrf_for_session(None, "")


def test_tokens_are_stored_hashed_and_revocable(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "service.duckdb")
    issued = issue_token(reg, "lab-x")
    assert issued.token.startswith("bct_") and len(issued.token) > 40
    raw = (tmp_path / "service.duckdb").read_bytes()
    assert issued.token.encode() not in raw and hash_token(issued.token).encode() in raw
    lab = lab_for_token(reg, issued.token)
    assert lab is not None and lab.name == "lab-x"
    with pytest.raises(LabExistsError):
        issue_token(reg, "lab-x")
    assert reg.revoke("lab-x") == 1
    assert lab_for_token(reg, issued.token) is None and reg.lab_for_token_id(lab.token_id) is None
    with pytest.raises(UnknownLabError):
        reg.revoke("lab-x")
    assert lab_for_token(reg, issue_token(reg, "lab-x").token) is not None  # a new token after revoking
    with pytest.raises(BadLabNameError):
        check_lab_name("lab x; drop table")


def test_an_upload_is_visible_to_its_lab_only(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "service.duckdb", keep_open_seconds=0.2)
    reg.create_upload(
        upload_id="u1", lab="a", file_name="f.csv", sha256="s" * 64, size_bytes=3, platemap_name=None,
        platemap_sha256=None,
    )  # fmt: skip
    reg.add_event("u1", "ingesting", "queued")
    assert reg.upload("u1", "b") is None and reg.uploads("b") == []
    row = reg.upload("u1", "a")
    assert row is not None and row.status == "ingesting" and row.status_message == "queued"
    assert [s for _, s, _ in reg.history("u1")] == ["received", "ingesting"]
    with pytest.raises(ValueError, match="unknown upload status"):
        reg.add_event("u1", "deleted", None)
    time.sleep(0.8)  # idle: the file is free for another process (the CLI)
    other = Registry(tmp_path / "service.duckdb", wait_seconds=0.5)
    assert [u.upload_id for u in other.uploads("a")] == ["u1"]
    reg.close()


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("study")
    generate_study(out, seed=11, participants=12)
    return out


def test_manifest_is_reread_only_when_it_changes(study: Path, config: Config, tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    path.write_bytes((study / "manifest.csv").read_bytes())
    cache = ManifestCache(path, config)
    first = cache.get()
    assert cache.get() is first
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert len(cache.get()) == len(first) - 1
    path.unlink()
    with pytest.raises(ManifestUnavailableError, match="missing"):
        cache.get()


def test_verdict_of_a_plate_map_alone_says_to_upload_it_with_its_export(study: Path, config: Config) -> None:
    from pipeline.manifest import load_manifest
    from pipeline.process import process_file

    name = next(p.name for p in (study / "inbox").iterdir() if p.name.endswith("_platemap.csv"))
    data = (study / "inbox" / name).read_bytes()
    manifest = load_manifest(study / "manifest.csv", config)
    v = build_verdict(process_file(FileInput(name=name, data=data), "0" * 64, config, manifest))
    assert v.outcome == "not_an_export" and not v.loadable
    assert "plate map" in v.summary and "together" in v.what_to_do


def test_grid_without_its_plate_map_is_not_accepted_and_says_why(study: Path, config: Config) -> None:
    from pipeline.manifest import load_manifest
    from pipeline.process import process_file

    name = next(p.name for p in (study / "inbox").iterdir() if p.name.endswith(".txt"))
    data = (study / "inbox" / name).read_bytes()
    manifest = load_manifest(study / "manifest.csv", config)
    alone = build_verdict(process_file(FileInput(name=name, data=data), "0" * 64, config, manifest))
    assert alone.outcome == "not_accepted" and "plate map" in alone.summary
    pm = (study / "inbox" / name.replace(".txt", "_platemap.csv")).read_bytes()
    siblings = {name.replace(".txt", "_platemap.csv"): pm}
    paired = build_verdict(process_file(FileInput(name, data, siblings), "0" * 64, config, manifest))
    assert paired.outcome == "accepted" and paired.counts.accepted > 0


def test_a_flag_on_a_result_that_did_not_load_is_not_told_as_loaded(
    study: Path, config: Config, tmp_path: Path
) -> None:
    """A plate of another study: no sample is in this manifest, nothing loads; its replicate-CV flag is
    told with the waiting result ("Sample ID not found"), never as "Loaded, flagged" (seen on the red
    verdict page's screenshot: "0 results accepted", "1 flagged", "the result is loaded and flagged")."""
    from pipeline.manifest import load_manifest
    from pipeline.process import process_file

    generate_study(tmp_path / "other", seed=2, participants=4)
    path = sorted((tmp_path / "other" / "inbox").glob("*LX-CYT-CSF-P001*.csv"))[0]
    manifest = load_manifest(study / "manifest.csv", config)
    v = build_verdict(
        process_file(FileInput(name=path.name, data=path.read_bytes()), "0" * 64, config, manifest)
    )
    assert v.counts.accepted == 0 and v.counts.flagged == 0
    cv = [p for p in v.problems if p.rule == "high_cv"]
    assert cv, "the fixture plate should carry a replicate-CV flag"
    assert all(p.kind == "unresolved" and "loaded and flagged" not in p.message for p in cv)
    assert not [p for p in v.problems if p.kind == "flagged"]


def test_failure_limiter_window_is_sliding_and_bounded() -> None:
    from service.guard import FailureLimiter, TooManyFailuresError

    limiter = FailureLimiter({"client": 3, "prefix": 2}, window=0.4)
    keys = FailureLimiter.keys("198.51.100.1", "bct_abcdefghijkl")
    assert keys == ["client:198.51.100.1", "prefix:bct_abcdefgh"]
    assert FailureLimiter.keys("198.51.100.1", "  ") == ["client:198.51.100.1"]  # no credential: address only
    limiter.failed(keys)
    assert limiter.retry_after(keys) == 0
    limiter.failed(keys)  # the prefix reaches its limit (2) before the address (3)
    assert limiter.retry_after(keys[1:]) == 1 and limiter.retry_after(keys[:1]) == 0
    with pytest.raises(TooManyFailuresError, match="wait 1 s"):
        limiter.check(keys)
    for _ in range(1000):
        limiter.failed(keys)
    assert all(len(q) <= 3 for q in limiter._seen.values())  # only the last `limit` failures are kept
    time.sleep(0.45)
    assert limiter.retry_after(keys) == 0  # the window has passed


def test_lockout_message_names_the_right_credential() -> None:
    """A lab is told to try again with its token, a reviewer with their account and password (issue 21)."""
    from service.guard import REVIEWER_PASSWORD, FailureLimiter, TooManyFailuresError

    limiter = FailureLimiter({"client": 1, "prefix": 1}, window=60)
    keys = FailureLimiter.keys("198.51.100.2", "reviewer:rrev")
    limiter.failed(keys)
    with pytest.raises(TooManyFailuresError) as lab:
        limiter.check(keys)
    assert "your lab's token" in str(lab.value)
    with pytest.raises(TooManyFailuresError) as reviewer:
        limiter.check(keys, REVIEWER_PASSWORD)
    text = str(reviewer.value)
    assert "token" not in text and "your reviewer account and its password" in text

    import asyncio

    from service.guard import ClientLockout

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("a locked-out address never reaches the app")

    async def body_of(path: str) -> str:
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        scope = {"type": "http", "path": path, "client": ("198.51.100.2", 1)}
        await ClientLockout(app, limiter)(scope, None, send)  # type: ignore[arg-type]
        return b"".join(m.get("body", b"") for m in sent).decode()

    assert "your reviewer account and its password" in asyncio.run(body_of("/review/signin"))
    assert "your lab&#x27;s token" in asyncio.run(body_of("/upload"))


def test_failure_limits_are_validated(tmp_path: Path) -> None:
    import shutil

    import yaml

    from schemas.config import DEFAULT_CONFIG_DIR, ConfigError
    from schemas.service import load_service_config

    shutil.copy(DEFAULT_CONFIG_DIR / "service.yaml", tmp_path / "service.yaml")
    doc = yaml.safe_load((tmp_path / "service.yaml").read_text())
    doc["limits"]["failed_auth_per_client"] = 0
    (tmp_path / "service.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match="failed_auth_per_client"):
        load_service_config(tmp_path)
