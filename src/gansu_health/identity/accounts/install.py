"""Mount the account endpoints and the sign-in page on the app."""

from __future__ import annotations

from fastapi import FastAPI

from gansu_health.core.settings import Settings
from gansu_health.identity.accounts.router import router
from gansu_health.identity.accounts.service import AccountService
from gansu_health.identity.accounts.sms import SmsGateway, build_gateway
from gansu_health.identity.accounts.views import views
from gansu_health.identity.keys import FieldCipher, key_provider


def install_accounts(app: FastAPI, settings: Settings, *, cipher: FieldCipher | None = None,
                     sms: SmsGateway | None = None) -> AccountService:
    """Build the account service (``app.state.accounts``) and include /auth."""
    service = AccountService(settings, cipher or FieldCipher(key_provider(settings)),
                             sms or build_gateway(settings))
    app.state.accounts = service
    app.include_router(router)
    app.include_router(views)
    return service
