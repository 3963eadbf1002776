"""The edges: the HTTP API, the console and the `ledger` command line, and the workflows they
share (services/: imports, demos, reports, backups, the access audit)."""
