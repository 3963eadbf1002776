"""The ledger's commands, by what they are about; domain/ledger.py runs them in its unit of work."""
