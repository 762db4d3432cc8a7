"""Alerts: a signal over its threshold, recorded in the workspace, then notified.

Emails are kept on the alert and shown as ``not sent locally`` (there is no mail server here).
A webhook URL gets the alert as a JSON POST, under the URL rules datasets and datastores follow
(:func:`studio_ext.backends.local.data.fetch.check_url`: http(s) only, no link-local or reserved
addresses where clouds serve credentials; loopback and private addresses are allowed), checked
when the monitor is made and again before each POST; redirects are not followed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from studio_ext.backends.local.core.schema import monitor_alerts
from studio_ext.backends.local.core.store import now
from studio_ext.entities._data import redact_url

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

NOT_SENT = "not sent locally"
WEBHOOK_TIMEOUT_SECONDS = 10.0


def post_webhook(url: str, body: dict[str, Any]) -> str:
    """POST ``body`` to ``url``; what happened, as the alert shows it."""
    import httpx

    from studio_ext.backends.local.data.fetch import check_url
    from studio_ext.errors import StudioError

    try:
        check_url(url)
        response = httpx.post(url, json=body, timeout=WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False)
    except StudioError as exc:
        return f"refused: {exc.message}"
    except httpx.HTTPError as exc:
        return f"failed: {type(exc).__name__} posting to {redact_url(url)}"
    if response.is_success:
        return f"sent ({response.status_code})"
    return f"failed: {redact_url(url)} answered {response.status_code}"


def raise_alert(backend: LocalBackend, *, monitor: str, signal: str, metric: str, value: float, threshold: float,
                feature: str | None, window: tuple[datetime, datetime] | None, job_name: str | None,
                emails: list[str], webhook_url: str | None) -> int:
    """Record an alert, then notify; returns its id."""
    where = f" of {feature!r}" if feature else ""
    span = f" in {window[0]:%Y-%m-%d %H:%M}–{window[1]:%Y-%m-%d %H:%M} UTC" if window else ""
    message = f"{monitor}: {signal} {metric}{where} is {value:.4g} (threshold {threshold:.4g}){span}"
    payload = {"message": message, "emails": list(emails), "email_status": NOT_SENT if emails else "",
               "webhook_url": webhook_url, "webhook_status": ""}
    with backend.store.engine.begin() as conn:
        alert_id = conn.execute(monitor_alerts.insert().values(
            monitor=monitor, signal=signal, feature=feature, metric=metric, value=float(value),
            threshold=float(threshold), window_start=window[0].timestamp() if window else None,
            window_end=window[1].timestamp() if window else None, job_name=job_name, created_at=now(),
            acknowledged=False, payload=json.dumps(payload))).inserted_primary_key[0]
    if webhook_url:
        body = {"id": alert_id, "monitor": monitor, "signal": signal, "feature": feature, "metric": metric,
                "value": float(value), "threshold": float(threshold), "message": message, "job_name": job_name,
                "window_start": window[0].isoformat() if window else None,
                "window_end": window[1].isoformat() if window else None}
        payload["webhook_status"] = post_webhook(webhook_url, body)
        with backend.store.engine.begin() as conn:
            conn.execute(monitor_alerts.update().where(monitor_alerts.c.id == alert_id)
                         .values(payload=json.dumps(payload)))
    return int(alert_id)
