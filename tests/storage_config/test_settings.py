import pytest

from evidence.errors import ConfigError
from storage_config.settings import load_settings
from storage_config.urls import S3StoreURL, mask_url, parse_storage_url


def test_defaults_derive_from_home(tmp_path, monkeypatch):
    monkeypatch.delenv("EVIDENCE_CONFIG", raising=False)
    s = load_settings(home=tmp_path)
    assert s.database_url == f"sqlite:///{tmp_path / 'evidence.db'}"
    assert s.storage_url == f"file://{tmp_path / 'objects'}"
    assert [(p.station_id, p.path) for p in s.points] == [
        (s.station_id, tmp_path / "upload"),
        ("web", tmp_path / "web-upload"),
    ]
    assert s.deadline_hours == 24 and s.source_policy == "move" and s.proxy_max_height == 1080


def test_environment_and_toml(tmp_path, monkeypatch):
    toml = tmp_path / "evidence.toml"
    toml.write_text('deadline_hours = 12\nsource_policy = "keep"\nupload_points = "A=/a,B=/b"\n')
    monkeypatch.setenv("EVIDENCE_CONFIG", str(toml))
    monkeypatch.setenv("EVIDENCE_DEADLINE_HOURS", "48")
    s = load_settings(home=tmp_path)
    assert s.deadline_hours == 48  # environment beats the file
    assert s.source_policy == "keep"
    assert [(p.station_id, str(p.path)) for p in s.points][:2] == [("A", "/a"), ("B", "/b")]


@pytest.mark.parametrize(
    "env, named",
    [
        ({"EVIDENCE_SOURCE_POLICY": "shred"}, "EVIDENCE_SOURCE_POLICY"),
        ({"EVIDENCE_DEADLINE_HOURS": "-1"}, "EVIDENCE_DEADLINE_HOURS"),
        ({"EVIDENCE_TIMEZONE": "Mars/Olympus"}, "EVIDENCE_TIMEZONE"),
        ({"EVIDENCE_STORAGE_URL": "ftp://x"}, "EVIDENCE_STORAGE_URL"),
        ({"EVIDENCE_STORAGE_URL": "s3://host:9000/bucket"}, "EVIDENCE_STORAGE_URL"),
        ({"EVIDENCE_DATABASE_URL": "mysql://x"}, "EVIDENCE_DATABASE_URL"),
        ({"EVIDENCE_FILENAME_PATTERNS": '["(?P<Y>\\\\d{4})"]'}, "EVIDENCE_FILENAME_PATTERNS"),
        ({"EVIDENCE_CONFIG": "/no/such.toml"}, "EVIDENCE_CONFIG"),
    ],
)
def test_invalid_settings_name_the_setting(tmp_path, monkeypatch, env, named):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError, match=named):
        load_settings(home=tmp_path)


def test_s3_url_and_masking():
    url = parse_storage_url("s3://AK:S%2Fecret@minio.local:9000/evidence?secure=false&region=cn-1")
    assert url == S3StoreURL("minio.local:9000", "evidence", "AK", "S/ecret", False, "cn-1")
    assert mask_url("s3://AK:S%2Fecret@minio.local:9000/evidence?secure=false") == (
        "s3://AK:***@minio.local:9000/evidence?secure=false"
    )


def test_ignore_list_defaults_to_os_litter_and_is_configurable(tmp_path, monkeypatch):
    monkeypatch.delenv("EVIDENCE_CONFIG", raising=False)
    assert {"Thumbs.db", "desktop.ini", "~$*", "$RECYCLE.BIN", ".Trashes"} <= set(load_settings(home=tmp_path).ignore)
    monkeypatch.setenv("EVIDENCE_IGNORE", '["*.lnk", "Thumbs.db"]')
    assert load_settings(home=tmp_path).ignore == ["*.lnk", "Thumbs.db"]
    monkeypatch.setenv("EVIDENCE_IGNORE", '["a/b"]')
    with pytest.raises(ConfigError, match="EVIDENCE_IGNORE"):
        load_settings(home=tmp_path)
