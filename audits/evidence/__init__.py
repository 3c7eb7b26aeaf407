"""认证证据包 — the archival PDF/A-3b, its attachments ZIP with a manifest, and verification."""
