"""``ws.privacy`` on the local backend: metadata per dataset version, the budget ledger, private queries."""
