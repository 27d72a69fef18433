"""config/operations.yaml: validated at load, and prefect.yaml's schedule agrees with it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from biomarkers.stack import PREFECT_YAML, schedule_mismatches
from schemas.config import DEFAULT_CONFIG_DIR, ConfigError
from schemas.operations import S3Source, SftpSource, load_operations


def test_shipped_operations_config_loads_and_prefect_yaml_agrees() -> None:
    ops = load_operations()
    assert ops.schedule.cron == "30 2 * * *" and ops.schedule.timezone == "America/New_York"
    assert schedule_mismatches(ops) == []


def test_a_schedule_changed_in_one_place_only_is_caught(tmp_path: Path) -> None:
    changed = tmp_path / "prefect.yaml"
    changed.write_text(PREFECT_YAML.read_text().replace('cron: "30 2 * * *"', 'cron: "0 3 * * *"'))
    problems = schedule_mismatches(load_operations(), changed)
    assert len(problems) == 1 and "0 3 * * *" in problems[0] and "30 2 * * *" in problems[0]


def _write(tmp_path: Path, text: str) -> Path:
    for f in DEFAULT_CONFIG_DIR.iterdir():
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "operations.yaml").write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schedule: {cron: '30 2 * *', timezone: UTC}\n", "must have 5 fields"),
        ("schedule: {cron: '30 2 * * *', timezone: Mars/Olympus}\n", "unknown time zone"),
        ("schedule: {cron: '30 2 * * *', timezone: UTC}\nschedul: {}\n", "schedul: Extra inputs"),
        (
            "schedule: {cron: '30 2 * * *', timezone: UTC}\nsources:\n"
            "  - {name: lab, kind: sftp, host: h, username_env: lowercase}\n",
            "sources[0].sftp.username_env",
        ),
        (
            "schedule: {cron: '30 2 * * *', timezone: UTC}\nsources:\n"
            "  - {name: a, kind: folder}\n  - {name: a, kind: folder}\n",
            "repeated: ['a']",
        ),
    ],
)
def test_bad_operations_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"operations\.yaml") as e:
        load_operations(_write(tmp_path, text))
    assert message in str(e.value)


def test_sources_of_each_kind_parse_and_never_delete_by_default(tmp_path: Path) -> None:
    ops = load_operations(
        _write(
            tmp_path,
            "schedule: {cron: '30 2 * * *', timezone: UTC}\nsources:\n"
            "  - {name: lab-a, kind: sftp, host: sftp.lab.example, username_env: LAB_A_USER,"
            " password_env: LAB_A_PASSWORD}\n"
            "  - {name: lab-b, kind: s3, bucket: drops, prefix: bct002/, endpoint_url: 'https://s3.lab.example',"
            " access_key_env: LAB_B_KEY, secret_key_env: LAB_B_SECRET}\n",
        )
    )
    a, b = ops.sources
    assert isinstance(a, SftpSource) and isinstance(b, S3Source)
    assert not a.delete_after_pull and not b.delete_after_pull


def test_a_config_folder_without_operations_uses_the_projects(tmp_path: Path) -> None:
    assert load_operations(tmp_path) == load_operations()
