"""The pack's charts: a chart with more rows than fit a page is drawn as several pictures, the
later ones titled (续); labels wrap, never cut (a name breaks before its code in brackets)."""
from __future__ import annotations

import re
from html import unescape

from audits.evidence.charts import bar_chart, wrap_label


def _texts(svg: str) -> list[str]:
    return [unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def test_sixty_units_are_three_pictures_and_every_label_is_whole():
    rows = [(f"第{i}党支部下属某某车间联合党小组(HX-Z{i}-B{i}-G{i})", i / 60) for i in range(60)]
    svgs = bar_chart(rows, title="各党组织规定执行率", target=0.9)
    assert len(svgs) >= 3
    titles = [_texts(s)[0] for s in svgs]
    assert titles == ["各党组织规定执行率"] + ["各党组织规定执行率(续)"] * (len(svgs) - 1)
    drawn = "".join("".join(_texts(s)) for s in svgs)
    for label, _ in rows:
        assert label in drawn  # the lines of a label, read in order, give the whole name
    for s in svgs:
        height = float(re.search(r'height="(\d+(?:\.\d+)?)"', s).group(1))
        assert height * 25.4 / 96 < 240  # fits the pack's content box (259 mm) with a heading above


def test_wrapping_prefers_the_bracket_and_never_cuts():
    long = wrap_label("中共华信能源集团有限公司委员会机关第一党支部(HX-B1)", 200)
    assert "".join(long) == "中共华信能源集团有限公司委员会机关第一党支部(HX-B1)" and long[-1] == "(HX-B1)"
    lines = wrap_label("一个没有编码但是非常非常非常非常非常非常长的党组织名称", 120)
    assert len(lines) > 1 and "".join(lines) == "一个没有编码但是非常非常非常非常非常非常长的党组织名称"
    assert wrap_label("机关第一党支部(HX-B1)", 400) == ["机关第一党支部(HX-B1)"]
    assert wrap_label("后勤服务联合第一党小组(HX-LH-G1)", 150)[-1] == "(HX-LH-G1)"
