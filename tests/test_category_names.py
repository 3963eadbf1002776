"""A clerk types a category as the notice prints it (SPEC Decision 17): every spelling the five
notices use is accepted through the API and mapped to its code; an unknown name is still refused.

The oracle is the notices' own text: each spelling below is copied from seeds/ (full-width and
em dashes, brackets and quotes as printed), with the code SPEC.md's vocabulary gives it.
"""

import pytest

from conftest import event_count
from test_api import assert_problem, h, register

PRINTED = [
    ("1－2级残疾人", "disabled_1_2"),  # 001
    ("重度（1―2级）残疾人", "disabled_1_2"),  # 000
    ("城乡重度残疾人员（一级、二级）", "disabled_1_2"),  # 003
    ("城乡重度（一、二级）残疾人员", "disabled_1_2"),  # 002
    ("丧失劳动能力的一、二级重度残疾人", "disabled_1_2"),
    ("3－4级残疾人", "disabled_3_4"),  # 001
    ("城乡居民低保对象", "dibao"),  # 001
    ("最低生活保障家庭成员", "dibao"),  # 000, 003
    ("特困供养人员（农村五保、城镇“三无人员”）", "tekun"),  # 001
    ("在乡重点优抚对象（不含1―6级残疾军人）", "youfu"),  # 000
    ("在乡重点优抚对象（不含一至六级伤残军人）", "youfu"),  # 002
    ("城乡孤儿和事实无人抚养儿童", "orphan"),  # 002
    ("脱贫不稳定户", "monitored"),  # 002, in the brackets of 未标注风险消除的监测对象
    ("边缘易致贫户", "monitored"),
    ("未参加职工医疗保险的一至六级伤残军人", "disabled_veteran"),  # 002
    ("计划生育家庭特别扶助对象（含农村独生子女四级残疾扶助）及其子女", "fp_special"),  # 002
    ("计划生育奖励扶助对象本人", "fp_reward"),  # 002
    ("农村建档立卡贫困户", "poverty_registered"),  # 001
    ("特困人员（含城市三无人员、农村五保对象、孤儿、事实无人抚养困境儿童）", "tekun"),  # 000
    ("未标注风险消除的监测对象（脱贫不稳定户、边缘易致贫户、突发严重困难户）", "monitored"),  # 002
    ("在乡重点优扶对象中的老复员军人", "old_demobilized"),  # 003
    ("建卡脱贫户", "stable_out_of_poverty"),  # 002's 100% groups
    ("3-4级残", "disabled_3_4"),
]


@pytest.mark.parametrize("printed, code", PRINTED, ids=[p for p, _ in PRINTED])
def test_every_printed_spelling_maps_to_its_code(api, printed, code):
    idn, _ = register(api)
    r = api.post(f"/v1/persons/{idn}/identities", headers=h(api, "bureau"),
                 json={"category": printed, "action": "certify", "effective_on": "2020-01-01"})
    assert r.status_code == 201, r.text
    assert [c["category"] for c in r.json()["categories"]] == [code]


def test_an_unknown_name_is_still_refused(api):
    idn, _ = register(api)
    before = event_count(api.ledger)
    for name in ("富豪", "1－2级", "低保", "残疾人"):
        r = api.post(f"/v1/persons/{idn}/identities", headers=h(api, "bureau"),
                     json={"category": name, "action": "certify", "effective_on": "2020-01-01"})
        assert_problem(r, 400, "category")
    assert event_count(api.ledger) == before
