"""Online endpoints and deployments: their tables, the service, and the supervisor duty that runs their servers."""
