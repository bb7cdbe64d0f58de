"""People who sign in to the desk: accounts, argon2 passwords, sign-in with lockout, sessions.

A person has a role and binding exactly like a machine client (``app.principal``), so the same
scope rules (``app.services.scope``) apply to both.  Their principal's ``client_id`` is
``user:<username>``: that is who the audit trail, ``created_by`` and idempotency records name.

**Sign-in.**  The password is checked with argon2id (``argon2-cffi``'s defaults, RFC 9106's
second recommended profile).  An unknown username costs the same hash as a known one.  Each
consecutive failure is answered later (the route sleeps ``SETTLE_SIGNIN_DELAY_MS`` per failure
so far); at ``SETTLE_SIGNIN_MAX_FAILURES`` the account is locked for
``SETTLE_SIGNIN_LOCK_MINUTES``, during which even the right password is refused (without being
checked).  A success resets the count.

**Sessions.**  The cookie carries 256 random bits; only their SHA-256 is stored, with the
session's CSRF token.  A session ends on sign-out, after ``SETTLE_SESSION_IDLE_MINUTES`` without
a request, and after ``SESSION_MAX_HOURS`` in any case.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from app import clock
from app.db import tables as db
from app.errors import Conflict, FieldError, ValidationFailed
from app.principal import Principal, Role
from app.schemas.users import UserCreate

HASHER = PasswordHasher()
#: Verified against when the username is unknown, so that costs the same time.
_DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))
SESSION_MAX_HOURS = 12
#: A session's ``last_seen_at`` is written at most this often (not on every page).
TOUCH_EVERY = timedelta(seconds=60)


def principal_of(user: db.AppUser) -> Principal:
    return Principal(
        client_id=f"user:{user.username}",
        role=cast(Role, user.role),
        hospital_code=user.hospital_code,
        scheme_code=user.scheme_code,
    )


def create(session: Session, *, body: UserCreate) -> db.AppUser:
    """Field errors are located in the account given (``("scheme_code",)``)."""
    if body.scheme_code is not None and session.get(db.Scheme, body.scheme_code) is None:
        raise ValidationFailed([FieldError(("scheme_code",), f"there is no scheme {body.scheme_code!r}")])
    taken = session.scalar(select(col(db.AppUser.id)).where(col(db.AppUser.username) == body.username))
    if taken is not None:
        raise Conflict(f"there is already a user {body.username}")
    row = db.AppUser(
        id=str(uuid.uuid4()),
        username=body.username,
        display_name=body.name,
        role=body.role,
        hospital_code=body.hospital_code,
        scheme_code=body.scheme_code,
        password_hash=HASHER.hash(body.password.get_secret_value()),
        failed_signins=0,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return row


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SignIn:
    outcome: Literal["ok", "bad", "locked"]
    #: Consecutive failures so far (after this attempt); decides how long the answer is delayed.
    failures: int = 0
    locked_until: datetime | None = None
    token: str | None = None
    user: db.AppUser | None = None


def _lookup(session: Session, username: str) -> db.AppUser | None:
    return session.scalars(
        select(db.AppUser).where(col(db.AppUser.username) == username, col(db.AppUser.disabled_at).is_(None))
    ).one_or_none()


def check_password(session: Session, *, username: str, password: str, now: datetime) -> tuple[db.AppUser | None, bool]:
    """Read the account and verify the password outside any write transaction (argon2 takes
    tens of milliseconds; no lock is held meanwhile).  A locked account is not checked."""
    user = _lookup(session, username)
    if user is None:
        with contextlib.suppress(VerificationError):
            HASHER.verify(_DUMMY_HASH, password)
        return None, False
    if user.locked_until is not None and user.locked_until > now:
        return user, False
    try:
        return user, HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return user, False


def record_sign_in(
    session: Session,
    *,
    user_id: str | None,
    password_ok: bool,
    now: datetime,
    max_failures: int,
    lock_minutes: int,
    password: str | None = None,
) -> SignIn:
    """The write half of a sign-in (one transaction): count the failure and lock at the limit,
    or reset the count and open a session.  The lock is re-read under a row lock, so concurrent
    guesses are all counted."""
    if user_id is None:
        return SignIn("bad", failures=1)
    user = session.scalars(
        select(db.AppUser)
        .where(col(db.AppUser.id) == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if user.locked_until is not None and user.locked_until > now:
        return SignIn("locked", locked_until=user.locked_until, user=user, failures=max_failures)
    if not password_ok:
        user.failed_signins += 1
        user.last_failed_at = now
        failures = user.failed_signins
        if failures >= max_failures:
            user.locked_until = now + timedelta(minutes=lock_minutes)
            user.failed_signins = 0
            session.flush()
            return SignIn("locked", failures=failures, locked_until=user.locked_until, user=user)
        session.flush()
        return SignIn("bad", failures=failures, user=user)
    user.failed_signins = 0
    user.locked_until = None
    if password is not None and HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = HASHER.hash(password)
    token = secrets.token_urlsafe(32)
    session.add(
        db.UserSession(
            token_hash=_hash(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
        )
    )
    session.flush()
    return SignIn("ok", token=token, user=user)


@dataclass(frozen=True, slots=True)
class Active:
    user: db.AppUser
    csrf_token: str
    token_hash: str
    #: The session's ``last_seen_at`` is old enough to be written again.
    stale: bool


def active_session(session: Session, *, token: str, now: datetime, idle_minutes: int) -> Active | None:
    """The signed-in person of a cookie token, or None (unknown, ended, idle or too old)."""
    row = session.execute(
        select(db.UserSession, db.AppUser)
        .join(db.AppUser, col(db.AppUser.id) == col(db.UserSession.user_id))
        .where(
            col(db.UserSession.token_hash) == _hash(token),
            col(db.UserSession.ended_at).is_(None),
            col(db.AppUser.disabled_at).is_(None),
        )
    ).one_or_none()
    if row is None:
        return None
    sess, user = row
    if now - sess.last_seen_at > timedelta(minutes=idle_minutes):
        return None
    if now - sess.created_at > timedelta(hours=SESSION_MAX_HOURS):
        return None
    return Active(user, sess.csrf_token, sess.token_hash, stale=now - sess.last_seen_at > TOUCH_EVERY)


def touch(session: Session, *, token_hash: str, now: datetime) -> None:
    session.execute(update(db.UserSession).where(col(db.UserSession.token_hash) == token_hash).values(last_seen_at=now))


def sign_out(session: Session, *, token_hash: str, now: datetime) -> None:
    session.execute(
        update(db.UserSession)
        .where(col(db.UserSession.token_hash) == token_hash, col(db.UserSession.ended_at).is_(None))
        .values(ended_at=now)
    )
