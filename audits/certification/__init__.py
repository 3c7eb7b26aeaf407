"""认证周期 — the certificate, its surveillance and recertification audits, external findings, readiness."""
