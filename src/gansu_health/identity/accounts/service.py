"""Sign-in (citizen by SMS code or password, staff by password + TOTP) and ``load_principal``.

Methods run inside the caller's write transaction and never commit. A failed sign-in still has
effects to keep (attempt counters, lockout, the audit row), so sign-ins return a ``SignIn``
holding either the session or the error; the caller commits and then calls ``unwrap()``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection

from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import Forbidden, PlatformError, Unauthorized
from gansu_health.core.settings import Settings
from gansu_health.identity.accounts import otp, passwords, repository, totp
from gansu_health.identity.accounts.audit_events import FAILURE, ClientContext, audit_auth
from gansu_health.identity.accounts.repository import Account
from gansu_health.identity.accounts.sessions import SessionInfo, create_session, revoke_session
from gansu_health.identity.accounts.sms import SmsGateway, mask_phone
from gansu_health.identity.keys import FieldCipher
from gansu_health.identity.principal import Principal
from gansu_health.identity.scopes import ScopeSet

log = logging.getLogger(__name__)
MAX_FAILURES = 5
LOCKOUT_S = 15 * 60
PHONE_CONTEXT = "account.phone"
TOTP_CONTEXT = "account.totp"
WRONG_CREDENTIALS = ("Wrong username or password, or the account is locked for a while after "
                     "repeated failures")


@dataclass(frozen=True, slots=True)
class SignIn:
    """The result of a sign-in attempt: a new session, or the error to report after commit."""

    account: Account | None = None
    session_id: str | None = None
    session: SessionInfo | None = None
    error: PlatformError | None = None

    def unwrap(self) -> tuple[Account, str, SessionInfo]:
        """The account, cookie value and session; raise the error of a failed attempt."""
        if self.error is not None:
            raise self.error
        assert self.account and self.session_id and self.session
        return self.account, self.session_id, self.session


class AccountService:
    """Citizen and staff sign-in over the account tables."""

    def __init__(self, settings: Settings, cipher: FieldCipher, sms: SmsGateway) -> None:
        self.settings = settings
        self.cipher = cipher
        self.sms = sms
        self.node = settings.node_id

    # -- citizens -------------------------------------------------------------------------
    def request_code(self, conn: Connection, phone: str) -> otp.IssuedCode:
        """Create a sign-in code for ``phone`` (send it with ``deliver_code`` after commit)."""
        return otp.issue_code(conn, self.cipher, phone, self.node)

    def deliver_code(self, issued: otp.IssuedCode) -> None:
        """Send a code by SMS."""
        self.sms.send(issued.phone, "login-code",
                      {"code": issued.code, "minutes": str(issued.expires_in // 60)})

    def citizen_login(self, conn: Connection, phone: str, code: str, ctx: ClientContext
                      ) -> SignIn:
        """Sign a resident in with an SMS code, creating the account on first sign-in."""
        digits = otp.normalise_phone(phone)
        error = otp.check_code(conn, self.cipher, digits, code)
        acct = self.citizen_by_phone(conn, digits, lock=True)
        if error is None and acct is None:
            acct = repository.insert_account(
                conn, node=self.node, kind="citizen", phone_index=self.cipher.blind_index(
                    digits, "phone"), phone_enc=self.cipher.encrypt(digits, PHONE_CONTEXT))
        if error is None and acct is not None and acct.status != "active":
            error = Forbidden("This account is disabled", expression="phone")
        return self._finish(conn, acct, "citizen", mask_phone(digits), ctx, error, mfa=False,
                            reason="wrong or expired SMS code")

    def citizen_password_login(self, conn: Connection, phone: str, password: str,
                               ctx: ClientContext) -> SignIn:
        """Sign a resident in with the password they set."""
        digits = otp.normalise_phone(phone)
        acct = self.citizen_by_phone(conn, digits, lock=True)
        error = self._check_password(conn, acct, password, "phone")
        return self._finish(conn, acct, "citizen", mask_phone(digits), ctx, error, mfa=False,
                            reason="wrong password or locked")

    def citizen_by_phone(self, conn: Connection, phone: str, *, lock: bool = False
                         ) -> Account | None:
        """The citizen account of a phone number."""
        return repository.find_by_phone(conn, "citizen",
                                        self.cipher.blind_indexes(phone, "phone"), lock=lock)

    def phone_of(self, acct: Account) -> str | None:
        """The account's phone number in the clear."""
        return self.cipher.decrypt(acct.phone_enc, PHONE_CONTEXT) if acct.phone_enc else None

    def set_password(self, conn: Connection, acct: Account, password: str,
                     current: str | None) -> None:
        """Set or change an account's password (the current one is needed to change it)."""
        if acct.password_hash and not passwords.verify_password(acct.password_hash,
                                                                current or ""):
            raise Forbidden("The current password is wrong", expression="current_password")
        repository.update_account(conn, acct.id, password_hash=passwords.hash_password(
            passwords.check_strength(password)))

    # -- staff ----------------------------------------------------------------------------
    def staff_login(self, conn: Connection, username: str, password: str, code: str | None,
                    ctx: ClientContext) -> SignIn:
        """Sign staff in with username, password and (when enrolled or admin) a TOTP code."""
        name = repository.normalise_username(username, strict=False)
        acct = repository.find_by_username(conn, name, lock=True) if name else None
        if acct is not None and acct.kind != "staff":
            acct = None
        error = self._check_password(conn, acct, password, "password")
        mfa = False
        if error is None and acct is not None:
            error, mfa = self._check_totp(conn, acct, code)
        return self._finish(conn, acct, "staff", name[:128], ctx, error, mfa=mfa,
                            reason="wrong credentials, locked or missing second factor")

    def _check_totp(self, conn: Connection, acct: Account, code: str | None
                    ) -> tuple[PlatformError | None, bool]:
        if acct.totp_enc is None:
            if any(g.role == "admin" for g in repository.list_roles(conn, acct.id)):
                return Forbidden("Administrator accounts must enrol an authenticator (TOTP) "
                                 "before signing in", expression="totp"), False
            return None, False
        if not code:
            return Unauthorized("Enter the 6-digit code of your authenticator app",
                                expression="totp"), False
        secret = self.cipher.decrypt(acct.totp_enc, TOTP_CONTEXT)
        step = totp.accepted_step(secret, code, now(), acct.totp_last_step)
        if step is None:
            self._count_failure(conn, acct)
            return Unauthorized("The authenticator code is wrong or was already used",
                                expression="totp"), False
        repository.update_account(conn, acct.id, totp_last_step=step)
        return None, True

    # -- shared ---------------------------------------------------------------------------
    def _check_password(self, conn: Connection, acct: Account | None, password: str,
                        expression: str) -> PlatformError | None:
        wrong = Unauthorized(WRONG_CREDENTIALS, expression=expression)
        t = to_micros(now())
        if acct is None or acct.status != "active" or acct.locked_at(t):
            passwords.verify_password(None, password)  # same time as a real check
            return wrong
        if not passwords.verify_password(acct.password_hash, password):
            self._count_failure(conn, acct)
            return wrong
        if acct.password_hash and passwords.needs_rehash(acct.password_hash):
            repository.update_account(conn, acct.id,
                                      password_hash=passwords.hash_password(password))
        return None

    def _count_failure(self, conn: Connection, acct: Account) -> None:
        failures = acct.failed_logins + 1
        if failures >= MAX_FAILURES:
            until = to_micros(now()) + LOCKOUT_S * 1_000_000
            repository.update_account(conn, acct.id, failed_logins=0, locked_until_us=until)
            log.warning("account %s locked for %d s after %d failures", acct.id, LOCKOUT_S,
                        failures)
        else:
            repository.update_account(conn, acct.id, failed_logins=failures)

    def _finish(self, conn: Connection, acct: Account | None, kind: str, name: str,
                ctx: ClientContext, error: PlatformError | None, *, mfa: bool,
                reason: str) -> SignIn:
        shown = (acct.display_name or name) if acct else name
        if error is not None:
            audit_auth(conn, "login", kind=kind, acct=acct, name=shown, ctx=ctx,
                       outcome=FAILURE, reason=f"{reason}: {error.message}"[:512])
            return SignIn(account=acct, error=error)
        assert acct is not None
        repository.update_account(conn, acct.id, failed_logins=0, locked_until_us=None,
                                  last_login_us=to_micros(now()))
        session_id, info = create_session(conn, acct, mfa=mfa, source_ip=ctx.source_ip,
                                          user_agent=ctx.user_agent)
        audit_auth(conn, "login", kind=kind, acct=acct, name=shown, ctx=ctx)
        return SignIn(acct, session_id, info)

    def logout(self, conn: Connection, session_id: str, ctx: ClientContext) -> bool:
        """End a session and audit it; False when the session was unknown."""
        owner = revoke_session(conn, session_id)
        acct = repository.get_account(conn, owner) if owner else None
        if acct is None:
            return False
        audit_auth(conn, "logout", kind=acct.kind, acct=acct,
                   name=acct.display_name or acct.username, ctx=ctx)
        return True


def load_principal(conn: Connection, account_id: str, scopes: ScopeSet, *,
                   client_id: str | None, token_id: str | None, patient: str | None
                   ) -> Principal:
    """The Principal of an account for a token: a citizen's 就诊人 or a staff member's roles."""
    acct = repository.get_account(conn, account_id)
    if acct is None or acct.status != "active":
        raise Unauthorized("The account is unknown or disabled", expression="sub")
    if acct.kind == "citizen":
        listed = repository.list_members(conn, acct.id)
        members = frozenset(m.patient_id for m in listed)
        if acct.patient_id:
            members |= {acct.patient_id}
        if patient is not None and patient not in members:
            raise Forbidden(f"Patient/{patient} is not one of this account's 就诊人",
                            expression="patient")
        return Principal("citizen", acct.id, scopes, display=acct.display_name or "",
                         client_id=client_id, token_id=token_id,
                         patient=patient or acct.patient_id, members=members,
                         wards=frozenset(m.patient_id for m in listed if m.guardian),
                         home=acct.patient_id)
    grants = repository.list_roles(conn, acct.id)
    # several institutions: act for the first granted until a choice mechanism exists
    organization = grants[0].organization_id if grants else None
    here = [g for g in grants if g.organization_id == organization]
    return Principal("staff", acct.id, scopes, display=acct.display_name or acct.username or "",
                     client_id=client_id, token_id=token_id,
                     roles=frozenset(g.role for g in here), organization=organization,
                     practitioner=next((g.practitioner_id for g in here if g.practitioner_id),
                                       None),
                     region=next((g.region for g in here if g.region), None), patient=patient)
