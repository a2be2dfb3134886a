#!/usr/bin/env bash
# The project's two entry points, each doing its own setup:
#   ./dev.sh up     venv + packages + ffmpeg, sample clips in the upload point, then `evidence up`
#   ./dev.sh test   venv + packages + ffmpeg, PostgreSQL started if installed, ruff check, ruff format --check,
#                   mypy, then the whole test suite
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
    say "installing $* from the system packages"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

ensure_ffmpeg() {
    if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
        apt_install ffmpeg
    fi
}

ensure_browser() {
    # the web pages' tests drive Debian's chromium through its chromedriver; a CJK font makes the
    # Chinese pages legible in their screenshots
    local missing=()
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    fc-list 2>/dev/null | grep -qiE 'wqy|noto sans cjk|noto serif cjk' || missing+=(fonts-wqy-microhei)
    if [ ${#missing[@]} -gt 0 ]; then
        apt_install "${missing[@]}"
    fi
}

ensure_venv() {
    local py=${PYTHON:-python3}
    if [ ! -x .venv/bin/python ]; then
        say "creating .venv"
        if ! "$py" -m venv .venv 2>/dev/null; then
            rm -rf .venv
            apt_install python3-venv
            "$py" -m venv .venv
        fi
    fi
    local stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        say "installing the project and its dependencies into .venv"
        .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
        .venv/bin/python -m pip install -q -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
        .venv/bin/python -c 'import evidence, ingest, api, storage_config, cli, fastapi, minio, moto' \
            || { echo "dependency install failed" >&2; exit 1; }
        rm -f .venv/.installed-* && touch "$stamp"
    fi
}

ensure_postgres() {
    command -v pg_isready >/dev/null || { say "PostgreSQL not installed: its tests will be skipped (required under CI)"; return 0; }
    if ! pg_isready -q -h 127.0.0.1 -p 5432; then
        if command -v pg_ctlcluster >/dev/null; then
            say "starting PostgreSQL"
            for version in $(ls /etc/postgresql 2>/dev/null); do
                as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
            done
            for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
        fi
    fi
}

cmd=${1:-}
shift || true
case "$cmd" in
    up)
        ensure_ffmpeg
        ensure_venv
        export EVIDENCE_HOME=${EVIDENCE_HOME:-$PWD/var}
        say "placing sample clips in the upload point"
        .venv/bin/evidence samples
        exec .venv/bin/evidence up "$@"
        ;;
    test)
        ensure_ffmpeg
        ensure_venv
        ensure_browser
        ensure_postgres
        say "lint: ruff check (rules in pyproject.toml)"
        .venv/bin/ruff check . || { echo "ruff check found problems (see above): the test command fails" >&2; exit 1; }
        say "format: ruff format --check"
        .venv/bin/ruff format --check . \
            || { echo "files not formatted (run: .venv/bin/ruff format .): the test command fails" >&2; exit 1; }
        say "types: mypy (settings in pyproject.toml)"
        .venv/bin/mypy || { echo "mypy found type errors (see above): the test command fails" >&2; exit 1; }
        # one worker per core, a coverage summary and the ten slowest tests at the end; later arguments
        # win (-n 0, --no-cov). Not --dist loadgroup/loadscope: they key work by test id, and
        # schemathesis gives one id to many items (tests/api/test_schema.py), so those would run once.
        exec .venv/bin/python -m pytest -n auto --dist load --cov --cov-report=term:skip-covered "$@"
        ;;
    *)
        echo "usage: ./dev.sh up | ./dev.sh test [pytest args]" >&2
        exit 2
        ;;
esac
