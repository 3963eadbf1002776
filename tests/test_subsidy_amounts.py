"""Every amount in SPEC.md's category tables, per notice, tier and cohort (yuan)."""

import pytest

from domain.policy import policy_by_id
from domain.rules import decide_subsidy, subsidy_amount

QIANJIANG, CHAQI, FUTIAN, QIJIANG, CHUXIONG = "500114-2021", "430623110-2021", "500237103-2022", "500110-2021", "532301-2021"

# (policy, category, tier 1 amount, tier 2 amount or None for a single-level policy)
TABLE = [
    # 000 Qianjiang: 100% for 特困/孤儿/低保; 70% (196) for the others; tier 2: the full tier-1 amount.
    (QIANJIANG, "tekun", 280, 280),
    (QIANJIANG, "orphan", 280, 280),
    (QIANJIANG, "dibao", 280, 280),
    (QIANJIANG, "youfu", 196, 280),
    (QIANJIANG, "disabled_1_2", 196, 280),
    (QIANJIANG, "special_hardship", 196, 280),
    (QIANJIANG, "poor_student", 196, 280),
    (QIANJIANG, "illness_poverty", 196, 280),
    (QIANJIANG, "poverty_registered", 196, 196),  # no tier-2 rule: keeps its tier-1 amount
    # 001 Chaqi, single level 280
    (CHAQI, "tekun", 280, None),
    (CHAQI, "bottom_line_1", 280, None),
    (CHAQI, "disabled_1_2", 280, None),
    (CHAQI, "poverty_registered", 140, None),
    (CHAQI, "disabled_3_4", 140, None),
    (CHAQI, "dibao", 70, None),
    (CHAQI, "dibao_edge", 70, None),
    # 002 Futian 2022, tier 1 320 / tier 2 695
    (FUTIAN, "tekun", 320, 320),
    (FUTIAN, "orphan", 320, 320),
    (FUTIAN, "youfu", 320, 320),
    (FUTIAN, "dibao", 288, 320),
    (FUTIAN, "disabled_1_2", 224, 320),
    (FUTIAN, "dibao_edge", 224, 320),
    (FUTIAN, "relapse_poverty", 224, 320),
    (FUTIAN, "monitored", 224, 320),
    (FUTIAN, "fp_special", 320, 320),
    (FUTIAN, "fp_complication", 320, 320),
    (FUTIAN, "fp_reward", 256, 256),
    (FUTIAN, "disabled_veteran", 320, 0),  # the rule's amount on tier 2; the decision is undetermined (below)
    (FUTIAN, "stable_out_of_poverty", 100, 100),
    (FUTIAN, "disabled_3_4", 80, 80),
    # 003 Qijiang, tier 1 280 / tier 2 655
    (QIJIANG, "dibao", 280, 280),
    (QIJIANG, "tekun", 280, 280),
    (QIJIANG, "orphan", 280, 280),
    (QIJIANG, "youfu", 280, 280),
    (QIJIANG, "disabled_1_2", 280, 280),
    (QIJIANG, "special_hardship", 280, 280),
    (QIJIANG, "illness_poverty", 280, 280),
    (QIJIANG, "old_demobilized", 280, 655),  # full tier 2; on tier 1 capped at the contribution
    (QIJIANG, "fp_only_child_parent", 224, 224),
    (QIJIANG, "fp_only_child_lost", 280, 280),
    (QIJIANG, "fp_complication", 280, 280),
    (QIJIANG, "poverty_registered", 196, 196),
    (QIJIANG, "poverty_consolidated", 140, 140),
    # 004 Chuxiong, single level 280
    (CHUXIONG, "tekun", 280, None),
    (CHUXIONG, "orphan", 280, None),
    (CHUXIONG, "poverty_registered", 180, None),
    (CHUXIONG, "disabled_1_2", 120, None),
    (CHUXIONG, "disabled_3_mental", 120, None),
    (CHUXIONG, "dibao", 120, None),
    (CHUXIONG, "province_hardship", 120, None),  # 「省规定的其他特定困难人员按120元」
]
# 004 六（二）5 and 7: 「根据政策据实进行补助」, an amount the notice does not give.
SET_ELSEWHERE = [(CHUXIONG, "fp_rural_one_child"), (CHUXIONG, "fp_two_daughters_sterilised"),
                 (CHUXIONG, "youfu_rural_assisted")]


@pytest.mark.parametrize("policy_id, category, tier1, tier2", TABLE, ids=[f"{p}-{c}" for p, c, *_ in TABLE])
def test_category_amount(policy_id, category, tier1, tier2):
    policy = policy_by_id(policy_id)
    decision = decide_subsidy(policy, 1, "resident", [category])
    assert decision is not None and decision.amount_fen == tier1 * 100
    if tier2 is not None:
        rule = next(s for s in policy.subsidy if s.category == category)
        assert subsidy_amount(policy, rule, 2, "resident") == tier2 * 100


def test_table_lists_every_subsidy_of_every_policy():
    listed = {(p, c) for p, c, *_ in TABLE} | set(SET_ELSEWHERE)
    for policy_id in (QIANJIANG, CHAQI, FUTIAN, QIJIANG, CHUXIONG):
        assert {(policy_id, s.category) for s in policy_by_id(policy_id).subsidy} <= listed


def test_highest_applies_never_a_sum():
    d = decide_subsidy(policy_by_id(QIJIANG), 1, "resident", ["poverty_registered", "fp_only_child_parent"])
    assert (d.category, d.amount_fen) == ("fp_only_child_parent", 22400)
    assert [(c.category, c.amount_fen) for c in d.candidates] == [("fp_only_child_parent", 22400), ("poverty_registered", 19600)]


def test_winner_flips_with_the_tier():
    futian = policy_by_id(FUTIAN)
    held = ["dibao", "disabled_veteran"]
    assert decide_subsidy(futian, 1, "resident", held).category == "disabled_veteran"  # 320 > 288
    assert decide_subsidy(futian, 2, "resident", ["dibao", "fp_reward"]).category == "dibao"  # 320 > 256


def test_a_tier_the_notice_does_not_subsidise_is_undetermined_not_zero():
    """002 四（三）「由县退役军人事务局统一办理参加居民医保一档…100%给予资助」: a veteran who chooses tier 2 is
    not in the sentence; the subsidy is undetermined, named, and never 0.00 by default."""
    futian = policy_by_id(FUTIAN)
    for held in (["disabled_veteran"], ["dibao", "disabled_veteran"]):
        d = decide_subsidy(futian, 2, "resident", held)
        assert d is not None and d.undetermined and "says nothing of a person of it choosing tier 2" in d.undetermined
    assert decide_subsidy(futian, 1, "resident", ["disabled_veteran"]).undetermined is None


def test_equal_amounts_first_listed_wins():
    d = decide_subsidy(policy_by_id(QIJIANG), 1, "resident", ["tekun", "dibao"])
    assert d.category == "dibao" and d.amount_fen == 28000  # dibao is listed first in 500110-2021.toml


def test_needy_student_gets_196_as_printed_and_the_cap_holds():
    qianjiang = policy_by_id(QIANJIANG)
    assert decide_subsidy(qianjiang, 1, "student", ["poor_student"]).amount_fen == 19600
    assert decide_subsidy(qianjiang, 1, "student", ["tekun"]).amount_fen == 25000  # never above the 250 due


def test_category_the_policy_does_not_subsidise_gives_nothing():
    assert decide_subsidy(policy_by_id(CHUXIONG), 1, "resident", ["fp_reward"]) is None


@pytest.mark.parametrize("policy_id, category", SET_ELSEWHERE)
def test_an_amount_set_elsewhere_is_an_undetermined_decision_unless_a_known_one_covers_all(policy_id, category):
    policy = policy_by_id(policy_id)
    alone = decide_subsidy(policy, 1, "resident", [category])
    assert alone is not None and alone.undetermined and alone.amount_fen == 0 and alone.category == category
    assert decide_subsidy(policy, 1, "resident", [category, "dibao"]).undetermined  # 120.00 may not be the highest
    full = decide_subsidy(policy, 1, "resident", [category, "tekun"])  # 280.00 is the whole contribution
    assert full.undetermined is None and (full.category, full.amount_fen) == ("tekun", 28000)


def test_highest_applies_false_ranks_the_categories_in_the_policys_order():
    """Qijiang lists 低保 (100%, 280.00) before 巩固脱贫户 (50%, 140.00): the flag decides between the
    highest amount and the first listed, but is never a sum."""
    import msgspec

    policy = policy_by_id(QIJIANG)
    order = [s.category for s in policy.subsidy]
    assert order.index("dibao") < order.index("poverty_consolidated")
    ranked = msgspec.structs.replace(policy, highest_applies=False)
    reversed_order = msgspec.structs.replace(ranked, subsidy=list(reversed(policy.subsidy)))
    held = ["poverty_consolidated", "dibao"]
    assert decide_subsidy(policy, 1, "resident", held).category == "dibao"
    assert decide_subsidy(reversed_order, 1, "resident", held).category == "poverty_consolidated"  # listed first now
    assert decide_subsidy(msgspec.structs.replace(policy, subsidy=list(reversed(policy.subsidy))), 1, "resident",
                          held).category == "dibao"  # highest applies: the order does not matter
