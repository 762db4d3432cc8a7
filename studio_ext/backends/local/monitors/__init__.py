"""Monitors: dataset drift monitors (ws.data_drift), model monitor runs, results and alerts."""
