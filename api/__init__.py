"""The edges: the `ledger` command line and (issue 3) the HTTP API."""
