"""Evaluation sites as organizers manage them, and the site token check.

An organizer registers a site for a phase (its token is shown once), lists and revokes them;
each is in the audit log. Jobs are leased by ``challenge.sites.leases``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge import access
from challenge.accounts.models import User
from challenge.audit import service as audit
from challenge.core import bearer, security
from challenge.core.db import utcnow
from challenge.core.errors import NotFound
from challenge.core.ratelimit import FailureLimiter
from challenge.phases.models import Phase
from challenge.sites.models import EvaluationSite


def create(*, db: Session, user: User, phase_id: int, name: str) -> tuple[EvaluationSite, str]:
    """Register a site for ``phase_id`` (its organizers only); returns the site and its token
    in plain text, which is never stored or shown again. From now on the platform's own
    workers leave this phase's evaluations to its sites."""
    phase, challenge = access.require_visible_phase(db, user, phase_id)
    access.require_organizer(db, user, challenge)
    new = security.new_token()
    site = EvaluationSite(phase_id=phase.id, name=name, public_id=new.public_id,
                          secret_hash=new.secret_hash, created_by_id=user.id)
    db.add(site)
    db.flush()
    audit.record(db=db, actor=user, action="site.create", object_type="site", object_id=site.id,
                 challenge_id=challenge.id, phase_id=phase.id, name=name)
    db.commit()
    return site, new.plaintext


def list_for_phase(*, db: Session, user: User, phase_id: int) -> list[EvaluationSite]:
    phase, challenge = access.require_visible_phase(db, user, phase_id)
    access.require_organizer(db, user, challenge)
    return list(db.scalars(select(EvaluationSite).where(EvaluationSite.phase_id == phase.id)
                           .order_by(EvaluationSite.id)))


def revoke(*, db: Session, user: User, site_id: int) -> EvaluationSite:
    """Revoke a site's token (idempotent). Its leases lapse at their next expiry and are
    offered to the phase's other sites; it stays the provenance of what it evaluated."""
    site = db.get(EvaluationSite, site_id)
    phase = db.get(Phase, site.phase_id) if site is not None else None
    if site is None or phase is None or not access.is_organizer(db, user, phase.challenge_id):
        raise NotFound(f"no evaluation site {site_id}")
    if site.revoked_at is None:
        site.revoked_at = utcnow()
        audit.record(db=db, actor=user, action="site.revoke", object_type="site",
                     object_id=site.id, challenge_id=phase.challenge_id, phase_id=phase.id)
    db.commit()
    return site


def has_site(db: Session, phase_id: int) -> bool:
    """Whether ``phase_id`` has a site that is not revoked (a manifest-only dataset needs
    one)."""
    return db.scalar(select(EvaluationSite.id).where(EvaluationSite.phase_id == phase_id,
                                                     EvaluationSite.revoked_at.is_(None))
                     .limit(1)) is not None


def authenticate(*, db: Session, token: str, client_key: str,
                 limiter: FailureLimiter) -> EvaluationSite:
    """The site behind a bearer token, with the work of ``accounts.authenticate`` (one
    argon2 verify whatever the token, failures rate limited per client). A user's API token
    is no site token and a site token no user's: each is looked up in its own table."""
    site: EvaluationSite = bearer.check(
        db, EvaluationSite, token, client_key=client_key, limiter=limiter, what="site token",
        usable=lambda row: row.revoked_at is None)
    return site
