"""The deployment files as an IT office would use them: the container image's Dockerfile (built and
smoke-tested where a Docker engine runs, read and checked rule by rule everywhere), the package
with every asset the service reads, the compose file and the systemd unit."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[1]


def final_stage() -> list[dict]:
    parsed = DockerfileParser(path=str(ROOT / "Dockerfile"))
    stages: list[list[dict]] = []
    for instruction in (i for i in parsed.structure if i["instruction"] != "COMMENT"):
        if instruction["instruction"] == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    assert len(stages) == 2, "a build stage and the service's"
    return stages[-1]


def test_the_image_runs_unprivileged_with_a_health_check_and_fetches_nothing():
    stage = final_stage()
    by_kind: dict[str, list[str]] = {}
    for i in stage:
        by_kind.setdefault(i["instruction"], []).append(i["value"])
    assert by_kind["USER"] and by_kind["USER"][-1] not in ("root", "0")
    assert "/healthz" in by_kind["HEALTHCHECK"][0]
    assert by_kind["EXPOSE"] == ["8000"]
    assert '"ledger"' in by_kind["ENTRYPOINT"][0] and '"0.0.0.0"' in by_kind["CMD"][0]
    installs = [v for v in by_kind["RUN"] if "pip install" in v]
    assert installs and all("--no-index" in v for v in installs)  # from the wheels built, never an index
    assert not any(k in by_kind for k in ("ADD",))  # no remote download into the image
    user_at = next(n for n, i in enumerate(stage) if i["instruction"] == "USER")
    assert all(i["instruction"] not in ("RUN", "COPY") for i in stage[user_at + 1:] if "pip" in i["value"])


def test_the_build_copies_only_what_exists_and_leaves_secrets_out():
    parsed = DockerfileParser(path=str(ROOT / "Dockerfile"))
    for i in parsed.structure:
        if i["instruction"] == "COPY" and "--from" not in i["value"]:
            for source in i["value"].split()[:-1]:
                assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text().split()
    for secret in ("*.db", "*.log-key", ".git", ".venv"):
        assert secret in ignored, secret


def test_the_package_carries_every_asset_the_service_reads(tmp_path):
    """Built from the files git holds, copied to a clean tree (a build folder left in the checkout
    would lend the wheel files the package does not name)."""
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True,
                             check=True).stdout.split()
    source = tmp_path / "src"
    for name in tracked:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
                            str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel = next(tmp_path.glob("enrollment_ledger-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    # Every file of the packages that is not code (templates, stylesheet, policies, reference data);
    # the README's screenshot alone is the repository's, not the service's.
    wanted = [f for f in tracked if f.startswith(("domain/", "projections/", "api/")) and not f.endswith(".py")
              and f != "api/console/screenshot.png"]
    assert len(wanted) > 20 and [w for w in wanted if w not in names] == []


def test_compose_runs_the_ledger_on_postgresql_reachable_from_this_host_only():
    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text(encoding="utf-8"))
    db, ledger = compose["services"]["db"], compose["services"]["ledger"]
    assert db["image"].startswith("postgres:15") and "healthcheck" in db
    assert ledger["depends_on"]["db"]["condition"] == "service_healthy"
    assert ledger["environment"]["LEDGER_DATABASE_URL"].startswith("postgresql://ledger:${POSTGRES_PASSWORD}@db:")
    assert all(port.startswith("127.0.0.1:") for port in ledger["ports"])
    assert "${POSTGRES_PASSWORD:?" in db["environment"]["POSTGRES_PASSWORD"]  # no password in the file


def test_the_systemd_unit_runs_serve_unprivileged_and_confined():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # systemd's keys are case-sensitive
    unit.read(ROOT / "deploy/ledger.service", encoding="utf-8")
    service = unit["Service"]
    assert service["User"] not in ("root", "0") and "ledger serve" in service["ExecStart"]
    assert "--host 127.0.0.1" in service["ExecStart"]  # nginx in front, never the raw port outside
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ReadWritePaths", "/var/lib/ledger")):
        assert service[key] == value, key
    if shutil.which("systemd-analyze"):  # the unit's syntax as systemd reads it (the binary need not exist here)
        checked = subprocess.run(["systemd-analyze", "verify", str(ROOT / "deploy/ledger.service")],
                                 capture_output=True, text=True)
        problems = [line for line in (checked.stdout + checked.stderr).splitlines()
                    if line.strip() and "/opt/ledger/.venv/bin/ledger" not in line]
        assert problems == [], problems


def _docker_engine() -> str | None:
    if not shutil.which("docker"):
        return "no docker client"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True)
    return None if info.returncode == 0 else "no Docker engine runs here (the Dockerfile is checked by the tests above)"


def test_the_image_builds_and_answers_its_health_check(tmp_path):
    missing = _docker_engine()
    if missing:
        pytest.skip(missing)
    tag = "enrollment-ledger:test"
    subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, timeout=1200)
    run = subprocess.run(["docker", "run", "-d", "--network", "none", tag], capture_output=True, text=True, check=True)
    container = run.stdout.strip()
    try:
        for _ in range(60):
            probe = subprocess.run(["docker", "exec", container, "python", "-c",
                                    "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
                                    ".read().decode())"], capture_output=True, text=True)
            if probe.returncode == 0:
                break
            time.sleep(1)
        assert '"ok"' in probe.stdout, probe.stderr
        user = subprocess.run(["docker", "exec", container, "id", "-u"], capture_output=True, text=True).stdout.strip()
        assert user != "0"
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
