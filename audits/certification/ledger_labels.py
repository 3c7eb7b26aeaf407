"""The certification cycle's ledger actions as the history pages write them (added to
``qms.history.ACTIONS`` when the app is ready)."""

ACTIONS = {
    "certificate.register": "登记认证证书",
    "certification_audit.schedule": "按证书排定外部审核(监督审核、再认证审核)",
    "certification_audit.done": "登记外部审核完成",
    "external_finding.link": "将不符合项登记为外部审核发现",
}
