"""Pure rules and facts of the enrollment ledger, and the write model that records them."""
