"""Formats: one parser per input format, each producing a canonical Arrow table."""
