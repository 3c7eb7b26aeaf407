"""体系策划与支持 — the ISO 9001 clauses around the records: context and interested parties (4.1/4.2), risks and
opportunities (6.1), competence (7.2), satisfaction (9.1.2)."""
