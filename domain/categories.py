"""Identity categories (身份属性 / 资助对象): the canonical vocabulary of SPEC.md.

Policies map these codes to subsidy rules; the API accepts a code or any of the Chinese names.
"""

from __future__ import annotations

import unicodedata

from domain.errors import InvalidInput

# code -> (Chinese name, aliases used by the notices)
CATEGORIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "tekun": ("特困人员", ("特困供养人员", "农村五保对象", "城市三无人员", "城镇三无人员", "农村五保", "城镇“三无人员”",
                       "特困供养人员（农村五保、城镇“三无人员”）", "特困人员（含城市三无人员、农村五保对象）",
                       # 000 prints the group with the orphans it takes in (each 280 there, as 特困 is)
                       "特困人员（含城市三无人员、农村五保对象、孤儿、事实无人抚养困境儿童）")),
    "orphan": ("孤儿", ("城乡孤儿", "事实无人抚养儿童", "事实无人抚养困境儿童", "城乡孤儿和事实无人抚养儿童")),
    "dibao": ("低保对象", ("最低生活保障家庭成员", "城乡低保对象", "低保家庭成员", "城乡居民低保对象")),
    "dibao_edge": ("低保边缘户", ("边缘户",)),
    "youfu": ("在乡重点优抚对象", ("在乡重点优抚对象（不含1-6级残疾军人）", "在乡重点优抚对象（不含一至六级伤残军人）")),
    "old_demobilized": ("老复员军人", ("在乡重点优扶对象中的老复员军人", "在乡重点优抚对象中的老复员军人")),
    "disabled_veteran": ("一至六级伤残军人", ("1-6级残疾军人", "未参加职工医疗保险的一至六级伤残军人")),
    "disabled_1_2": ("重度残疾人", ("一、二级残疾人", "一二级重度残疾人", "1-2级残疾人", "城乡重度残疾人员",
                                "重度（1-2级）残疾人", "城乡重度残疾人员（一级、二级）", "城乡重度（一、二级）残疾人员",
                                "丧失劳动能力的一、二级重度残疾人")),
    "disabled_3_4": ("三、四级残疾人", ("3-4级残疾人", "三、四级残疾人员", "3-4级残")),
    "disabled_3_mental": ("三级智力、精神残疾人", ("三级智力和精神残疾人",)),
    "special_hardship": ("民政建档特殊困难人员", ("民政部门建档的特殊困难人员",)),
    "poor_student": ("家庭经济困难在校大学生", ()),
    "illness_poverty": ("因病致贫家庭重病患者", ()),
    "poverty_registered": ("建档立卡贫困人口", ("农村建档立卡贫困人口", "未脱贫户", "农村建档立卡贫困户",
                                              "未纳入医疗救助资助参保的农村建档立卡贫困人口")),
    "poverty_consolidated": ("巩固脱贫户", ()),
    "stable_out_of_poverty": ("稳定脱贫人口", ("未纳入低收入人口监测范围的稳定脱贫人口", "建卡脱贫户")),
    "relapse_poverty": ("返贫致贫人口", ()),
    # 002 names the monitored households in brackets: 「未标注风险消除的监测对象（脱贫不稳定户、边缘易致贫户、突发严重困难户）」
    "monitored": ("防止返贫监测对象", ("未标注风险消除的监测对象", "监测对象", "监测户", "脱贫不稳定户", "边缘易致贫户",
                                   "突发严重困难户", "未标注风险消除的监测对象（脱贫不稳定户、边缘易致贫户、突发严重困难户）")),
    "bottom_line_1": ("社会救助兜底保障一类对象", ()),
    "fp_special": ("计划生育家庭特别扶助对象", ("计划生育家庭特别扶助对象及其子女",
                                          "计划生育家庭特别扶助对象（含农村独生子女四级残疾扶助）及其子女")),
    "fp_complication": ("计划生育手术并发症人员", ("并发症人员",)),
    "fp_reward": ("计划生育奖励扶助对象", ("计划生育奖励扶助对象本人",)),
    "fp_only_child_parent": ("独生子女父母", ("独生子父母", "独生女父母", "双女户父母")),
    "fp_only_child_lost": ("独生子女死亡或残疾家庭", ("独生子女死亡的父母", "独生子女残疾的父母和子女")),
    # 004's groups subsidised 「根据政策据实」 and its 「省规定的其他特定困难人员」
    "fp_rural_one_child": ("农村独生子女父母及未满18周岁的农村独生子女", ("农村独生子女的父母", "年龄不满18周岁的农村独生子女")),
    "fp_two_daughters_sterilised": ("只生育了两个女孩且采取了绝育措施的农村夫妻", ("农村双女结扎户", "双女结扎户")),
    "youfu_rural_assisted": ("纳入农村低保、农村特困供养范围的农村重点优抚对象", ("纳入低保特困的农村重点优抚对象",)),
    "province_hardship": ("省规定的其他特定困难人员", ("其他特定困难人员",)),
    # A fact of a newborn, certified by the health commission: 004's fee waiver depends on it.
    "fp_compliant_birth": ("符合计划生育政策规定的新生儿", ("符合计划生育政策",)),
}

# Facts recorded like categories that make nobody an assisted person: a newborn's family-planning
# compliance is a condition of 004's fee waiver, not a group of its 100% target.
FACTS = frozenset({"fp_compliant_birth"})

# The notices print one name several ways: full-width or ASCII digits and brackets (NFKC makes
# them one), and a range's dash as －, ―, —, – or - (made "-" here); quotes and spaces vary too.
_DASHES = str.maketrans({d: "-" for d in "－―—–‐‑‒⁃"} | {q: None for q in "“”\"'‘’ 　"})


def spelling(name: str) -> str:
    """The form a category name is looked up by, whichever way it was typed or printed."""
    return unicodedata.normalize("NFKC", name).translate(_DASHES).strip()


_BY_NAME = {
    spelling(name): code
    for code, (chinese, aliases) in CATEGORIES.items()
    for name in (code, chinese, *aliases)
}


def resolve_category(value: object, field: str = "category") -> str:
    """A code or Chinese name, as a notice prints it -> the canonical code."""
    if isinstance(value, str) and spelling(value) in _BY_NAME:
        return _BY_NAME[spelling(value)]
    raise InvalidInput(
        f"unknown identity category {value!r}; use a code such as 'dibao' or a name such as '低保对象'"
        " (see SPEC.md, Identity categories)",
        field,
        "category",
    )


def chinese_name(code: str) -> str:
    return CATEGORIES[code][0]
