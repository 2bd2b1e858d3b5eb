"""The ASGI entry point used by ``gansu-health serve`` and uvicorn."""
import os
import sys

from gansu_health.app import create_app

sys.setswitchinterval(float(os.environ.get("GH_SWITCH", "0.005")))
app = create_app()
