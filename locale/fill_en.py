"""Fill locale/en/LC_MESSAGES/django.po from en_translations.tsv (msgid<TAB>English).

Run after `manage.py makemessages -l en`; then `manage.py compilemessages`.
Entries without a translation stay empty and show in Chinese.
"""
import re
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
table = dict(line.split("\t", 1) for line in (here / "en_translations.tsv").read_text(encoding="utf-8").splitlines() if "\t" in line)
po = here / "en" / "LC_MESSAGES" / "django.po"
text = po.read_text(encoding="utf-8")


def fill(m: re.Match) -> str:
    msgid = m.group(1)
    en = table.get(msgid)
    return m.group(0) if en is None else f'msgid "{msgid}"\nmsgstr "{en.strip()}"'


text = re.sub(r'msgid "((?:[^"\\]|\\.)+)"\nmsgstr ""', fill, text)
text = text.replace("#, fuzzy\n", "", 1)
po.write_text(text, encoding="utf-8")
missing = [k for k in re.findall(r'msgid "((?:[^"\\]|\\.)+)"\nmsgstr ""', text)]
print(f"filled; {len(missing)} without English", file=sys.stderr)
