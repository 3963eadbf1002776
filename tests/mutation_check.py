"""Mutation check of the rule code: each realistic wrong edit below, made in a copy of the project,
must make the tests fail. Not collected by pytest (a run takes minutes); run it by hand after
changing a rule or its tests:

    .venv/bin/python tests/mutation_check.py

It prints KILLED or SURVIVED for each mutant, with the first test that failed, and exits 1 when a
mutant survives or no longer applies (the code it edits has changed: update the edit).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The tests that pin the rules; -x stops at the first failure, so a killed mutant costs seconds.
TESTS = ["tests/test_rules_told_apart.py", "tests/test_subsidy_amounts.py", "tests/test_benefit_rules.py",
         "tests/test_ledger_commands.py", "tests/test_coverage_answers.py", "tests/test_api.py",
         "tests/test_report_enrollment.py", "tests/test_reports_more.py", "tests/test_serve.py",
         "tests/test_hostile_input.py"]

MUTANTS = [
    ("percent subsidy of the student price", "domain/rules.py",
     'base = policy.contribution_fen(rule.percent_of_tier, "resident")', 'base = policy.contribution_fen(rule.percent_of_tier, cohort)'),
    ("newborn window to the enrollment day", "domain/rules.py",
     'measured = enrolled_on if nb.measured_by == "enrolled_on" else fully_paid_on', 'measured = enrolled_on'),
    ("fully-paid date from unsorted payments", "domain/coverage.py",
     'for p in sorted(payments, key=_paid_at) if len(payments) > 1 else payments:', 'for p in payments:'),
    ("over-payment accepted for a subsidised person", "domain/coverage.py",
     'payable = policy.contribution_fen(e.tier, e.cohort) - (e.subsidy.amount_fen if e.subsidy else 0)',
     'payable = policy.contribution_fen(e.tier, e.cohort)'),
    ("shortest region prefix wins", "domain/policy.py",
     'if best is None or len(p.region) > len(best.region):', 'if best is None or len(p.region) < len(best.region):'),
    ("payment accepted on a cancelled enrollment", "domain/ledger.py",
     'raise Conflict(f"the {year} enrollment was cancelled", "year", "cancelled")', 'pass'),
    ("tier changed again after every payment voided", "domain/ledger.py",
     'if existing.payments or existing.first_payment_version is not None:', 'if existing.payments:'),
    ("waiver granted to last year's baby", "domain/ledger.py",
     'if person.birth_date.year != year or not (reg.mother_id_number and reg.father_id_number):',
     'if not (reg.mother_id_number and reg.father_id_number):'),
    ("waiver granted through a cancelled parent", "domain/ledger.py",
     '            if e is None or e.cancellation is not None:\n                return None, None',
     '            if e is None:\n                return None, None'),
    ("late-payment check on the offset's date", "domain/ledger.py",
     'paid_on = china_date(paid_at)\n            not_before(paid_on', 'paid_on = paid_at.date()\n            not_before(paid_on'),
    ("rates truncated", "projections/enrollment.py", 'ROUND_HALF_UP))', '"ROUND_DOWN"))'),
    ("rate on the enrolled count", "projections/enrollment.py",
     '"rate_of_population": rate(c["paid"], population)', '"rate_of_population": rate(c["enrolled"], population)'),
    ("rate of the total on the enrolled count", "projections/enrollment.py",
     'total["rate_of_population"] = rate(total["paid"], total_population)',
     'total["rate_of_population"] = rate(total["enrolled"], total_population)'),
    ("events recorded exactly at known_at dropped (fold)", "domain/person.py",
     'if known_at is not None and e.recorded_at > known_at:', 'if known_at is not None and e.recorded_at >= known_at:'),
    ("events recorded exactly at known_at dropped (report rows)", "projections/queries.py",
     'AND rec_lo <= ? AND {common}', 'AND rec_lo < ? AND {common}'),
    ("identity numbers ending in X unmasked in logs", "api/logs.py", r'_RUN = re.compile(r"\d{14,}[Xx]?")', r'_RUN = re.compile(r"\d{18}")'),
]


def main() -> int:
    bad = 0
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "project"
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.db*"))
        for name, path, old, new in MUTANTS:
            f = copy / path
            text = f.read_text()
            if text.count(old) != 1:
                print(f"NOT APPLIED ({text.count(old)} matches): {name}", flush=True)
                bad += 1
                continue
            f.write_text(text.replace(old, new))
            started = time.monotonic()
            try:
                run = subprocess.run([sys.executable, "-m", "pytest", "-x", "-p", "no:cacheprovider", *TESTS],
                                     cwd=copy, capture_output=True, text=True)
            finally:
                f.write_text(text)
            failed = [line for line in run.stdout.splitlines() if line.startswith("FAILED")]
            killed = run.returncode != 0
            bad += not killed
            print(f"{'KILLED  ' if killed else 'SURVIVED'} {name} ({time.monotonic() - started:.0f} s)"
                  f" {failed[0] if failed else ''}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
