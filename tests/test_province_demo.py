"""Several counties in one store (`ledger demo --counties N`): each county's figures are those of
its own demo run alone, and no two counties share a person."""

import json
import subprocess
import sys
from datetime import date

import pytest

from domain.ledger import Ledger
from projections.service import Reports
from tests.conftest import ledger_environ
from tests.test_cli import ROOT

SCALE = "2000"
REPORTS = ("enrollment", "subsidies", "collections", "unenrolled-assisted", "payable")


def run(env, *args):
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env={**env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, check=True).stdout


def reports_of(store_env, county):
    """The reports a bureau reads (the CLI's and the API's code), in this process: faster than a
    command per report."""
    ledger = Ledger(env=store_env)
    reports = Reports(ledger.store, ledger.env)
    try:
        return {kind: json.loads(json.dumps(reports.report(kind, county, 2021, date(2021, 12, 31)), default=str))
                for kind in REPORTS}
    finally:
        reports.close()
        ledger.close()


def test_four_counties_in_one_store_each_as_its_own_demo(store_env, tmp_path):
    env = ledger_environ(store_env)
    shown = run(env, "demo", "--counties", "4", "--scale", SCALE, "--quiet")
    counties = [line.split()[0] for line in shown.splitlines() if line[:6].isdigit()]
    assert counties == ["500114", "500101", "500102", "500103"]
    together = {county: reports_of(store_env, county) for county in counties}

    persons = {}
    for county in counties:
        alone = {"LEDGER_DB": str(tmp_path / f"{county}.db"),
                 **{k: v for k, v in env.items() if not k.startswith(("LEDGER_", "POSTGRES_"))}}
        run(alone, "demo", "--county", county, "--scale", SCALE, "--quiet")
        own = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": alone["LEDGER_DB"]}
        assert reports_of(own, county) == together[county], county
        numbers = {row["id_number"] for row in together[county]["payable"]["rows"]}
        assert numbers and all(n.startswith(county) for n in numbers)  # a county's own numbers
        persons[county] = numbers
    assert sum(len(p) for p in persons.values()) == len(set().union(*persons.values()))

    # The counties' villages are their own, and the province report sums them.
    for county in counties[1:]:
        rows = together[county]["enrollment"]["rows"]
        assert rows and all(r["region"].startswith(county) and len(r["region"]) == 9 for r in rows)
    province = json.loads(run(env, "report", "enrollment", "--region", "50", "--year", "2021", "--as-of",
                              "2021-12-31", "--format", "json"))
    for column in ("enrolled", "paid", "covered", "assisted", "assisted_enrolled"):
        assert province["total"][column] == sum(together[c]["enrollment"]["total"][column] for c in counties)

    # Run again: every write replays, nothing is posted twice.
    again = run(env, "demo", "--counties", "4", "--scale", SCALE, "--quiet")
    assert again.splitlines()[-1] == shown.splitlines()[-1]
    assert reports_of(store_env, "500101") == together["500101"]


@pytest.mark.parametrize("bad, says", [("0", "from 1 to 37"), ("38", "from 1 to 37"), ("two", "from 1 to 37")])
def test_a_county_count_out_of_range_is_refused(tmp_path, bad, says):
    result = subprocess.run([sys.executable, "-m", "api.cli", "demo", "--counties", bad, "--quiet"], cwd=tmp_path,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    assert result.returncode == 2 and "--counties" in result.stderr and says in result.stderr
    assert not (tmp_path / "ledger.db").exists()  # refused before anything is opened
