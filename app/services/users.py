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
from app.errors import Conflict, FieldError, NotFound, ValidationFailed
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


# --- accounts, as a person and an administrator manage them (the desk's account pages) -------

PASSWORD_MIN, PASSWORD_MAX = 12, 200


@dataclass(frozen=True, slots=True)
class Person:
    """A row of the people list: the account, its open sessions and when it was last seen."""

    user: db.AppUser
    sessions: int
    last_seen_at: datetime | None


def people(session: Session, *, now: datetime, idle_minutes: int) -> list[Person]:
    """Every account, by username, with its sessions that are still open (not ended, not idle,
    not too old)."""
    idle = now - timedelta(minutes=idle_minutes)
    oldest = now - timedelta(hours=SESSION_MAX_HOURS)
    rows = session.execute(
        select(col(db.UserSession.user_id), col(db.UserSession.last_seen_at)).where(
            col(db.UserSession.ended_at).is_(None),
            col(db.UserSession.last_seen_at) > idle,
            col(db.UserSession.created_at) > oldest,
        )
    ).all()
    open_sessions: dict[str, list[datetime]] = {}
    for user_id, seen in rows:
        open_sessions.setdefault(user_id, []).append(seen)
    users = session.scalars(select(db.AppUser).order_by(col(db.AppUser.username))).all()
    return [
        Person(u, len(open_sessions.get(u.id, [])), max(open_sessions[u.id]) if u.id in open_sessions else None)
        for u in users
    ]


def _account(session: Session, username: str) -> db.AppUser:
    user = session.scalars(
        select(db.AppUser).where(col(db.AppUser.username) == username).with_for_update()
    ).one_or_none()
    if user is None:
        raise NotFound("there is no such person")
    return user


def verify_password(session: Session, *, user_id: str, password: str) -> bool:
    """Whether ``password`` is the account's (argon2: checked outside any write transaction)."""
    user = session.get(db.AppUser, user_id)
    if user is None:
        return False
    try:
        return HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _end_sessions(session: Session, user_id: str, now: datetime, *, keep: str | None = None) -> int:
    stmt = update(db.UserSession).where(col(db.UserSession.user_id) == user_id, col(db.UserSession.ended_at).is_(None))
    if keep is not None:
        stmt = stmt.where(col(db.UserSession.token_hash) != keep)
    return int(session.execute(stmt.values(ended_at=now)).rowcount)  # type: ignore[attr-defined]


def change_password(
    session: Session, *, user_id: str, new_password: str, keep_session: str, now: datetime
) -> db.AppUser:
    """A person's new password (the old one was checked); their other sessions end.  Field errors
    at ``("new_password",)``."""
    user = session.scalars(select(db.AppUser).where(col(db.AppUser.id) == user_id).with_for_update()).one()
    loc = ("new_password",)
    if not PASSWORD_MIN <= len(new_password) <= PASSWORD_MAX:
        raise ValidationFailed([FieldError(loc, f"a password has {PASSWORD_MIN} to {PASSWORD_MAX} characters")])
    if new_password.lower() == user.username:
        raise ValidationFailed([FieldError(loc, "the password must not be the username")])
    user.password_hash = HASHER.hash(new_password)
    _end_sessions(session, user.id, now, keep=keep_session)
    session.flush()
    return user


def unlock(session: Session, *, username: str) -> db.AppUser:
    """End an account's lock after failed sign-ins (and its count of them)."""
    user = _account(session, username)
    user.locked_until = None
    user.failed_signins = 0
    session.flush()
    return user


def end_sessions(session: Session, *, username: str, now: datetime) -> db.AppUser:
    """Sign a person out everywhere: every open session of theirs ends."""
    user = _account(session, username)
    _end_sessions(session, user.id, now)
    return user


def disable(session: Session, *, username: str, now: datetime, by: str) -> db.AppUser:
    """Disable an account (no sign-in, every session ended); an administrator's own refused."""
    user = _account(session, username)
    if f"user:{user.username}" == by:
        raise Conflict("an administrator cannot disable their own account")
    if user.disabled_at is None:
        user.disabled_at = now
    _end_sessions(session, user.id, now)
    session.flush()
    return user


def enable(session: Session, *, username: str) -> db.AppUser:
    """Let a disabled account sign in again."""
    user = _account(session, username)
    user.disabled_at = None
    session.flush()
    return user
