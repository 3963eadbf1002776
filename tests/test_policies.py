import shutil
from pathlib import Path

import pytest

from domain.errors import RefusedByRule
from domain.policy import POLICY_DIR, all_policies, check_policies, find_policy


def test_every_shipped_policy_file_is_sound():
    report = check_policies()
    assert sorted(report) == [
        "3702-2025.toml", "430623110-2021.toml", "500110-2021.toml", "500114-2021.toml", "500237103-2022.toml",
        "532301-2021.toml", "532301-2025.toml",
    ]
    assert all(problems == [] for problems in report.values()), report


def test_lookup_takes_the_longest_region_prefix_and_the_year():
    assert find_policy("500237103201", 2022).id == "500237103-2022"
    assert find_policy("500114001001", 2021).id == "500114-2021"
    assert find_policy("430623110201", 2021).id == "430623110-2021"
    with pytest.raises(RefusedByRule) as e:
        find_policy("500237103201", 2021)  # Futian's notice is for 2022 only
    assert e.value.rule == "policy_exists"
    with pytest.raises(RefusedByRule):
        find_policy("430623100201", 2021)  # Huarong county outside Chaqi: no notice


def test_each_policy_names_its_notice_or_marks_each_source():
    assert {p.seed for p in all_policies() if p.seed != "none"} == {"000", "001", "002", "003", "004"}
    marks = ("[OFF]", "[OFF via 3P]", "[3P]", "[NEWS]", "unspecified", "no source")
    for p in all_policies():
        if p.seed != "none":
            continue
        c = p.continuity
        assert c is not None
        sources = [b.source for b in p.band] + [
            c.counts_from_source, c.fixed_source, c.gap_formula_source, c.min_total_source, c.anchor_source,
            c.exemptions_source, c.exempt_start_source, c.repair_source, p.newborn.source, p.refund.source]
        unmarked = [s for s in sources if not s.startswith(marks)]
        assert not unmarked, (p.id, unmarked)


def _broken(tmp_path: Path, replace: tuple[str, str]) -> Path:
    path = tmp_path / "500110-2021.toml"
    shutil.copy(POLICY_DIR / "500110-2021.toml", path)
    text = path.read_text(encoding="utf-8")
    assert replace[0] in text
    path.write_text(text.replace(replace[0], replace[1], 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "replace, problem",
    [
        (('category = "dibao"', 'category = "rich_uncle"'), "unknown category 'rich_uncle'"),
        (('paid_through = "end_of_february"', 'paid_through = "2020-12-01"'), "overlaps the band before"),
        (('resident = "280.00"', 'resident = "280.005"'), "at most two decimals"),
        (("percent = 80", "percent = 180"), "percent must be 1..100"),
        (('funder = "family_planning"', 'funder = "nobody"'), "funder 'nobody' is not in [funders]"),
    ],
)
def test_check_reports_broken_files(tmp_path, replace, problem):
    report = check_policies([_broken(tmp_path, replace)])
    (problems,) = report.values()
    assert any(problem in p for p in problems), problems


def test_check_reports_an_unknown_field(tmp_path):
    report = check_policies([_broken(tmp_path, ("highest_applies = true", "highest_applies = true\nbonus = 1"))])
    (problems,) = report.values()
    assert "bonus" in problems[0]
