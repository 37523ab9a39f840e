"""Billing evidence: cloud cost exports (AWS CUR, Azure cost details, GCP billing, FOCUS)."""
