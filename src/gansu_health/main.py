"""The ASGI entry point used by ``gansu-health serve`` and uvicorn."""

from gansu_health.app import create_app

app = create_app()
