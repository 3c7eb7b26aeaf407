"""audits — checking and improvement: internal audits, CAPA, review (issue 5)."""
