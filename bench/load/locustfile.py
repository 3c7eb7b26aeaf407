"""T20 · 50 branch secretaries at work (locust, headless, on loopback): each signs in as one of
the demo's 支部书记 (its own session) and, with waits of 1–3 s, opens the home page, the
lists (事项, 党员), an occurrence of the branch, and submits through the pages what secretaries
submit: a plan (计划), the record's text (记录), an attendance mark (出席). A refusal the page
explains (a step not allowed in the occurrence's state) is a normal answer; an error is an
answer of 4xx/5xx or a failed connection.

    locust -f bench/load/locustfile.py --headless -u 50 -r 5 -t 10m --host http://127.0.0.1:8766
(bench/load/run.sh starts gunicorn on a PostgreSQL database with the demo, runs this, then
``manage.py verify_ledger``.)
"""
from __future__ import annotations

import datetime as dt
import itertools
import random
import re

from locust import HttpUser, between, task

LOGINS = [("shuji_b1", "demo-shuji-2026"), ("shuji_b2", "demo-shuji-2026")]
_next_login = itertools.cycle(LOGINS)
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
OCCURRENCE = re.compile(r'href="/work/(\d+)/"')
MEMBER = re.compile(r'href="/members/(\d+)/"')
SAVE_FORM = re.compile(r'<form[^>]*action="/work/\d+/save/"[^>]*>(.*?)</form>', re.S)
TEXT_FIELD = re.compile(r'<(?:textarea|input)[^>]*name="([a-z_][a-z0-9_]*)"[^>]*(?:type="text"|rows=)', re.S)
ATTEND_MEMBER = re.compile(r'<option value="(\d+)"')


class Secretary(HttpUser):
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.username, password = next(_next_login)
        page = self.client.get("/login/", name="/login/")
        self.client.post("/login/", {"username": self.username, "password": password,
                                     "csrfmiddlewaretoken": self._csrf(page.text)}, name="/login/ (POST)")
        self.occurrences: list[str] = []
        self.members: list[str] = []
        self._refresh()

    def _csrf(self, html: str) -> str:
        m = CSRF.search(html)
        return m.group(1) if m else self.client.cookies.get("csrftoken", "")

    def _refresh(self) -> None:
        listing = self.client.get("/work/", name="/work/ 事项")
        self.occurrences = OCCURRENCE.findall(listing.text) or self.occurrences

    def _occurrence(self):
        if not self.occurrences:
            self._refresh()
        if not self.occurrences:
            return None, None
        pk = random.choice(self.occurrences)
        return pk, self.client.get(f"/work/{pk}/", name="/work/[id]/ 事项页")

    @task(4)
    def home(self) -> None:
        self.client.get("/", name="/ 首页")

    @task(3)
    def occurrence_list(self) -> None:
        self._refresh()

    @task(2)
    def member_list(self) -> None:
        page = self.client.get("/members/", name="/members/ 党员")
        self.members = MEMBER.findall(page.text) or self.members

    @task(1)
    def member_page(self) -> None:
        if self.members:
            self.client.get(f"/members/{random.choice(self.members)}/", name="/members/[id]/ 党员页")

    @task(4)
    def occurrence_page(self) -> None:
        self._occurrence()

    @task(1)
    def plan(self) -> None:
        pk, page = self._occurrence()
        if pk is None:
            return
        day = dt.date.today() + dt.timedelta(days=random.randint(1, 20))
        self.client.post(f"/work/{pk}/plan/", {
            "csrfmiddlewaretoken": self._csrf(page.text), "planned_date": day.isoformat(),
            "place": "党员活动室", "topic": f"学习讨论(压力测试 {random.randint(1, 999)})"}, name="/work/[id]/plan/ 计划")

    @task(2)
    def save_record(self) -> None:
        pk, page = self._occurrence()
        if pk is None:
            return
        form = SAVE_FORM.search(page.text)
        fields = TEXT_FIELD.findall(form.group(1)) if form else []
        data = {"csrfmiddlewaretoken": self._csrf(page.text)}
        for name in fields[:3]:
            data[name] = f"会议围绕主题开展学习讨论,与会党员逐一发言。(压力测试 {random.randint(1, 9999)})"
        self.client.post(f"/work/{pk}/save/", data, name="/work/[id]/save/ 记录")

    @task(1)
    def attend(self) -> None:
        pk, page = self._occurrence()
        if pk is None:
            return
        people = ATTEND_MEMBER.findall(page.text)
        if not people:
            return
        self.client.post(f"/work/{pk}/attend/", {
            "csrfmiddlewaretoken": self._csrf(page.text), "member": random.choice(people),
            "presence": random.choice(["present", "absent"]), "reason": "因公出差"}, name="/work/[id]/attend/ 出席")
