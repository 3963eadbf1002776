"""Read models fed from the event log: each person's rows and the totals per region and day, the
reports read from them at any date as known at any time, and the verifiable log's tree."""
