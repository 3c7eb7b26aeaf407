"""The OpenAPI schema's shared parts: the error body, and the error statuses every operation may
answer (so a client — and schemathesis' conformance checks — knows each of them)."""
from __future__ import annotations

ERROR = {
    "type": "object",
    "required": ["code", "message", "errors"],
    "properties": {
        "code": {"type": "string", "description": "稳定的错误代码,例如 not_found、transition_refused、signature_required"},
        "message": {"type": "string", "description": "中文说明"},
        "errors": {"type": "object", "additionalProperties": True, "description": "按字段的错误"},
    },
}

#: status → when
STATUSES = {
    "400": "请求数据或参数有误(invalid、malformed、bad_parameter)",
    "401": "未提供令牌或令牌无效、过期、已吊销",
    "403": "无权办理(not_permitted)、只读令牌(token_read_only)、须电子签名(signature_required)",
    "404": "无权访问或对象不存在",
    "405": "不支持此请求方法",
    "406": "只能返回 JSON",
    "409": "当前状态或规定不允许此操作(transition_refused);批量导入时与系统中已有的不一致(differs_from_roll)或导入时数据已被他人修改(changed_meanwhile)",
    "413": "请求体过大(body_too_large)",
    "415": "请求体类型不支持",
}


def add_errors(result, generator, request, public):
    """``POSTPROCESSING_HOOKS``: the Error component, and every error status on every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR
    ref = {"$ref": "#/components/schemas/Error"}
    for ops in result.get("paths", {}).values():
        for method, op in ops.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = op.setdefault("responses", {})
            for code, text in STATUSES.items():
                if code in ("409", "413", "415") and method == "get":
                    continue
                entry = responses.setdefault(code, {"description": text})
                entry["description"] = entry.get("description") or text
                entry["content"] = {"application/json": {"schema": ref}}
    return result
