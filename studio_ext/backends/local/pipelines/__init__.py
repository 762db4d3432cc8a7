"""Components and pipelines on the local backend: ws.components, the pipelines service (check, record,
read) and the supervisor duty that runs the steps."""
