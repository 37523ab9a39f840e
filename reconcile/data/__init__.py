"""Reference data shipped with the package (catalogs with their sources)."""
