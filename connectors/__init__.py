"""Connectors: stores (where bytes live) and formats (what the bytes mean).

Connectors know nothing of estimation; they turn objects into canonical Arrow tables.
"""
