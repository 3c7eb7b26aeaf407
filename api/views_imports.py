"""批量导入 — people and meetings sent by another system (an HR roll, a 智慧党建 platform) as JSON,
through the same engine as the pages' file imports: the roster's (qms/roster.py ``import_rows``:
people matched to the roll by 身份证号) and past meetings' (workflows/history_import.py
``import_meetings``: matched by their 外部编号). All or nothing: any row in error is a 400 naming
each row, any row that differs from what the system holds a 409 with each row's differences
(corrections are amendments with a reason, on the pages), and sending the same rows again
changes nothing. ``dry_run`` checks without saving."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api import errors
from api.base import Base, Strict, body_limit, call
from qms import roster, staged_import
from qms.models import Member
from workflows import history_import
from workflows.models import Occurrence


def _text(help_text: str, max_length: int = 200) -> serializers.CharField:
    return serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=max_length,
                                 help_text=help_text)


class MemberRowIn(Strict):
    """One person, as a roster row: the values as text, in the roster's words or the stored codes."""

    name = _text("姓名(必填)", 60)
    gender = _text("性别:男/女(或 M/F,必填)", 10)
    id_number = _text("身份证号(必填,用来与在册人员对应)", 30)
    birth_date = _text("出生日期 年-月-日", 30)
    ethnicity = _text("民族", 30)
    education = _text("学历", 30)
    phone = _text("手机号", 30)
    category = _text("人员类别:正式党员/预备党员/发展对象/入党积极分子(或 full/probationary/candidate/activist,必填)", 20)
    joined_on = _text("入党日期(党员必填)", 30)
    full_on = _text("转正日期(正式党员必填)", 30)
    unit = _text("所在党支部的组织编码(必填)", 60)
    group = _text("党小组编码", 60)
    start = _text("编入该党支部的日期,默认为今天", 30)


class MembersIn(Strict):
    members = serializers.ListField(child=MemberRowIn(), min_length=1, help_text="人员,按发送顺序编为第 1、2 … 行")
    dry_run = serializers.BooleanField(required=False, default=False, help_text="true:只校验,不保存")


class MeetingRowIn(Strict):
    """One meeting held (a past record): 已检查, frozen like any checked record."""

    external_id = _text("外部编号(必填):对方系统中这次会议的唯一编号,再次发送时据此对应", 100)
    unit = _text("党组织编码(必填)", 60)
    date = _text("开展日期 年-月-日(必填,不晚于今天)", 30)
    category = _text("类别(必填):规定键(如 branch_general_meeting)、规定名称或常用叫法(支部党员大会、支委会、党课…)", 60)
    topic = _text("主题/议题", 200)
    expected = _text("应到人数", 10)
    present = _text("实到人数", 10)


class MeetingsIn(Strict):
    meetings = serializers.ListField(child=MeetingRowIn(), min_length=1, help_text="会议,按发送顺序编为第 1、2 … 行")
    dry_run = serializers.BooleanField(required=False, default=False, help_text="true:只校验,不保存")


class RowOut(serializers.Serializer):
    row = serializers.IntegerField(help_text="第几行(从 1 起)")
    result = serializers.ChoiceField(choices=[("created", "已导入"), ("unchanged", "与系统中一致,未改变"),
                                              ("to_create", "将导入(dry_run)")])
    id = serializers.IntegerField(allow_null=True, help_text="党员编号或应开展事项编号")


class ImportOut(serializers.Serializer):
    dry_run = serializers.BooleanField()
    created = serializers.IntegerField(help_text="本次导入的行数")
    unchanged = serializers.IntegerField(help_text="与系统中一致、未改变的行数")
    rows = RowOut(many=True)


ERRORS = {400: OpenApiResponse(description="有行不符合要求(errors.rows:每行的字段与原因),未保存任何数据"),
          409: OpenApiResponse(description="有行与系统中已有的不一致(differs_from_roll,errors.rows:逐项对照),"
                                           "或导入时数据已被他人修改(changed_meanwhile);未保存任何数据")}


def _row_errors(detail: Any, labels: dict[str, str]) -> list[dict]:
    """The serializer's errors of the rows as the import's own: row, field, its Chinese name, why."""
    rows = []
    if isinstance(detail, dict):
        for i, fields in sorted(detail.items(), key=lambda kv: int(kv[0])):
            for f, msgs in (fields.items() if isinstance(fields, dict) else [("", fields)]):
                for m in msgs if isinstance(msgs, list) else [msgs]:
                    rows.append({"row": int(i) + 1, "field": f, "column": labels.get(f, f), "message": str(m)})
    return rows


class _Import(Base, APIView):
    """POST rows of one kind: checked, then recorded all or nothing."""

    list_name: str
    shape: type[Strict]
    labels: dict[str, str]

    def initial(self, request, *args, **kwargs):
        body_limit(request, import_=True)
        super(Base, self).initial(request, *args, **kwargs)

    def _rows(self, request) -> tuple[list[dict], bool]:
        data = request.data
        items = data.get(self.list_name) if isinstance(data, dict) else None
        most = staged_import.max_rows()
        if isinstance(items, list) and len(items) > most:
            raise errors.ApiError(400, "too_many_rows", f"一次最多导入 {most} 行,请分批发送")
        ser = self.shape(data=data)
        if not ser.is_valid():
            problems = dict(ser.errors)
            rows = _row_errors(problems.pop(self.list_name, None), self.labels)
            general = {k: [str(m) for m in v] for k, v in problems.items()}
            listed = ser.errors.get(self.list_name)
            if listed is not None and not isinstance(listed, dict):
                general[self.list_name] = [str(m) for m in listed]
            first = rows[0] if rows else None
            message = (f"第 {first['row']} 行 {first['column']}:{first['message']}" if first else
                       ";".join(f"{k}:{v[0]}" for k, v in general.items()))
            raise errors.ApiError(400, "invalid", f"请求数据有误,未保存任何数据。{message}", {**general, "rows": rows})
        return [dict(item) for item in ser.validated_data[self.list_name]], ser.validated_data["dry_run"]

    def _answer(self, result, dry: bool, ids: dict[int, int | None]) -> Response:
        """200 with each row's outcome; 400 with each row's errors; 409 with each row's differences."""
        if not result.ok:
            clash = [e for e in result.errors if e.row == 0]
            if clash and len(clash) == len(result.errors):
                raise errors.ApiError(409, "changed_meanwhile", clash[0].reason)
            rows = [{"row": e.row, "field": self._field(e.column), "column": e.column, "message": e.reason}
                    for e in result.errors]
            raise errors.ApiError(400, "invalid", f"有 {len({e.row for e in result.errors})} 行不符合要求,未保存任何数据。"
                                  f"第 {rows[0]['row']} 行 {rows[0]['column']}:{rows[0]['message']}", {"rows": rows})
        if result.differs:
            rows = [{"row": d.row, "id": self._differs_id(d), "name": d.name, "differences": [
                {"field": self._field(x.column), "column": x.column, "held": x.on_roll, "sent": x.in_file}
                for x in d.differences]} for d in result.differs]
            first = result.differs[0]
            raise errors.ApiError(409, "differs_from_roll",
                                  f"有 {len(rows)} 行与系统中已有的不一致,未保存任何数据;如系统中的有误,请在该页面“更正”并说明原因。"
                                  f"第 {first.row} 行({first.name}):" + ";".join(
                                      f"{x.column} 系统中为“{x.on_roll}”,发送的是“{x.in_file}”" for x in first.differences),
                                  {"rows": rows})
        fresh = "to_create" if dry else "created"
        outcome = {r.row: fresh for r in result.to_create} | {r.row: "unchanged" for r in result.same}
        return Response({"dry_run": dry, "created": result.created, "unchanged": len(result.same),
                         "rows": [{"row": n, "result": outcome[n], "id": ids.get(n)} for n in sorted(outcome)]})

    def _field(self, column: str) -> str:
        """The field a Chinese column name stands for ("" for the request as a whole)."""
        return next((f for f, label in self.labels.items() if label == column), "")


class MembersImportView(_Import):
    list_name, shape, labels = "members", MembersIn, roster.HEADER_OF

    @extend_schema(summary="批量导入人员(按身份证号与在册人员对应;全部成功或全部不保存)", request=MembersIn,
                   responses={200: ImportOut, **ERRORS})
    def post(self, request):
        items, dry = self._rows(request)
        result = call(roster.import_rows, staged_import.data_rows(items, roster.HEADER_OF), actor=request.user,
                      dry_run=dry, transition=False)
        return self._answer(result, dry, self._ids(items))

    def _ids(self, items: list[dict]) -> dict[int, int | None]:
        numbers = {}
        for n, item in enumerate(items, start=1):
            try:
                numbers[n] = roster._id_number(item.get("id_number"))
            except ValueError:
                continue
        found = dict(Member.objects.filter(id_number__in=set(numbers.values())).values_list("id_number", "pk"))
        return {n: found.get(idn) for n, idn in numbers.items()}

    def _differs_id(self, d) -> int:
        return d.member_id


class MeetingsImportView(_Import):
    list_name, shape, labels = "meetings", MeetingsIn, history_import.LABELS

    @extend_schema(summary="批量导入已开展的会议记录(按外部编号对应;全部成功或全部不保存)", request=MeetingsIn,
                   responses={200: ImportOut, **ERRORS})
    def post(self, request):
        items, dry = self._rows(request)
        result = call(history_import.import_meetings, staged_import.data_rows(items, history_import.LABELS),
                      actor=request.user, dry_run=dry, transition=False)
        return self._answer(result, dry, self._ids(items))

    def _ids(self, items: list[dict]) -> dict[int, int | None]:
        numbers = {n: roster._text(item.get("external_id")) for n, item in enumerate(items, start=1)}
        found = dict(Occurrence.objects.filter(external_id__in=set(numbers.values()) - {""}).values_list("external_id", "pk"))
        return {n: found.get(ext) for n, ext in numbers.items()}

    def _differs_id(self, d) -> int:
        return d.occurrence_id
