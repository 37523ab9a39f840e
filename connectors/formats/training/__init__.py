"""Training evidence: trainer folders, trackers, run tables, job descriptions, FLOP meters."""
