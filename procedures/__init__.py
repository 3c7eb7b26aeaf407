"""procedures — 体系文件: controlled documents, obligations and record forms (issue 3)."""
