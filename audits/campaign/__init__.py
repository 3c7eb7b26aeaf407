"""自查 + 抽查 — inspection campaigns: announcement, self-assessment, sampling, inspection, summary."""
