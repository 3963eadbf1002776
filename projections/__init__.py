"""Read models fed from the event log (reports, as-of queries). See issue 4."""
