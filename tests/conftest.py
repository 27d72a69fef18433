"""Shared fixtures: the study configuration and the real-export corpus in ../shared/corpus."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.config import Config, load_config

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("BIOMARKERS_CORPUS", REPO.parent / "shared" / "corpus"))


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config()


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The real public exports (../shared/corpus). A user's clone has no ../shared: those tests skip,
    saying so; CI has it."""
    if not CORPUS.is_dir():
        pytest.skip(f"real-export corpus not found at {CORPUS} (set BIOMARKERS_CORPUS to run these tests)")
    return CORPUS


@pytest.fixture(autouse=True, scope="session")
def _own_prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every `biomarkers` subprocess a test starts runs a temporary Prefect server on a SQLite file under
    PREFECT_HOME. Each test session (each xdist worker: `make test` runs two) gets its own, so parallel
    workers never share one database file, and tests never write into the user's ~/.prefect."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect-home")))
        yield


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[str]:
    """One real Prefect server per test session (Prefect's test harness: a temporary server on its own
    SQLite file, ~10 s to start); yields its API URL. Flows called in the test process report to it, and
    `biomarkers` subprocesses given ``PREFECT_API_URL`` set to it do too — instead of
    each starting a temporary server of its own (~4 s of CPU each, 25 times in the suite). Tests of what
    the command does without a server (its own temporary one, leaving no process behind) unset it."""
    from prefect.settings import get_current_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        url = get_current_settings().api.url
        assert url, "the Prefect test harness gave no API URL"
        yield url


@pytest.fixture(autouse=True, scope="session")
def _no_allotropy_fallback_by_default() -> Iterator[None]:
    """The allotropy fallback costs ~5 s per unknown file; property tests feed thousands of them. Tests
    of the fallback itself turn it back on (`allotropy_fallback` fixture)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BIOMARKERS_ALLOTROPY_FALLBACK", "0")
        yield


@pytest.fixture
def allotropy_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIOMARKERS_ALLOTROPY_FALLBACK", "1")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Integration tests (real runs, servers, demos: minutes each) first. `make test` spreads test files over
    two workers (pytest-xdist, a file at a time, `--no-loadscope-reorder`: in this order, not by test count):
    the long files start at once and the seconds-long unit tests fill the gaps at the end, instead of one
    long file running alone last."""
    items.sort(key=lambda item: item.get_closest_marker("integration") is None)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """`make test`'s two workers take whole test files, in the order above — except the upload-service tests,
    which share one real server (package-scoped fixture) and whose last file checks every upload the
    others made: the service package goes to one worker as one unit."""
    from xdist.scheduler import LoadScopeScheduling

    class FilesAndTheServicePackage(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "tests/service" if path.startswith("tests/service/") else path

    return FilesAndTheServicePackage(config, log)
