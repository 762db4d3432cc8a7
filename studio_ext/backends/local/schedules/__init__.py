"""Job schedules: ``ws.schedules`` (service.py) and the supervisor duty that fires them (duty.py)."""
