"""One module per kind of file; each registers itself with `registry.extractor`."""
