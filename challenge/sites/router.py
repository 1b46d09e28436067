"""Evaluation sites over HTTP: organizers register, list and revoke sites; a site worker
(authenticated by its site token, nothing else) leases its phase's jobs and reports."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from fastapi.responses import FileResponse

from challenge.core.deps import (
    CurrentSite,
    CurrentUser,
    PhaseId,
    SessionDep,
    SettingsDep,
    SiteId,
    StorageDep,
)
from challenge.core.text import CaseId, LeaseId
from challenge.sites import leases, service
from challenge.sites.schemas import (
    CaseRecorded,
    CaseReport,
    FinishAnswer,
    FinishRequest,
    HeartbeatAnswer,
    LeaseAnswer,
    LeaseRequest,
    SiteCreate,
    SiteCreated,
    SitePublic,
)

router = APIRouter(tags=["evaluation sites"])


@router.post("/phases/{phase_id}/sites", status_code=status.HTTP_201_CREATED,
             response_model=SiteCreated)
def create_site(phase_id: PhaseId, body: SiteCreate, db: SessionDep,
                user: CurrentUser) -> SiteCreated:
    """Register an evaluation site for the phase (organizers). The token in the answer is
    shown only this once. From now on only the phase's sites evaluate its submissions."""
    site, token = service.create(db=db, user=user, phase_id=phase_id, name=body.name)
    return SiteCreated(**SitePublic.model_validate(site, from_attributes=True).model_dump(),
                       token=token)


@router.get("/phases/{phase_id}/sites", response_model=list[SitePublic])
def list_sites(phase_id: PhaseId, db: SessionDep, user: CurrentUser) -> list[SitePublic]:
    return [SitePublic.model_validate(s, from_attributes=True)
            for s in service.list_for_phase(db=db, user=user, phase_id=phase_id)]


@router.delete("/sites/{site_id}", response_model=SitePublic)
def revoke_site(site_id: SiteId, db: SessionDep, user: CurrentUser) -> SitePublic:
    """Revoke a site's token (organizers of its challenge)."""
    return SitePublic.model_validate(service.revoke(db=db, user=user, site_id=site_id),
                                     from_attributes=True)


@router.post("/site/lease", response_model=LeaseAnswer)
def lease_job(body: LeaseRequest, db: SessionDep, site: CurrentSite,
              settings: SettingsDep) -> LeaseAnswer:
    """Site token: lease the oldest waiting job of the site's phase (``job`` null if none)."""
    return LeaseAnswer(job=leases.lease(db=db, site=site, settings=settings,
                                        worker_version=body.worker_version))


@router.post("/site/leases/{lease_id}/heartbeat", response_model=HeartbeatAnswer)
def heartbeat(lease_id: LeaseId, db: SessionDep, site: CurrentSite,
              settings: SettingsDep) -> HeartbeatAnswer:
    cancel, expires_at = leases.heartbeat(db=db, site=site, lease_id=lease_id,
                                          settings=settings)
    return HeartbeatAnswer(cancel=cancel, expires_at=expires_at)


@router.get("/site/leases/{lease_id}/archive", response_class=FileResponse,
            responses={200: {"content": {"application/x-tar": {}}}})
def download_archive(lease_id: LeaseId, db: SessionDep, site: CurrentSite,
                     storage: StorageDep) -> FileResponse:
    """The leased submission's ``docker save`` archive (verify its SHA-256)."""
    path = leases.archive(db=db, storage=storage, site=site, lease_id=lease_id)
    return FileResponse(path, media_type="application/x-tar")


@router.post("/site/leases/{lease_id}/running", status_code=status.HTTP_204_NO_CONTENT)
def start_running(lease_id: LeaseId, db: SessionDep, site: CurrentSite) -> Response:
    """The image is loaded and the local data matches the manifest: cases start."""
    leases.start_running(db=db, site=site, lease_id=lease_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/site/leases/{lease_id}/cases/{case_id}", response_model=CaseRecorded)
def report_case(lease_id: LeaseId, case_id: CaseId, body: CaseReport, db: SessionDep,
                site: CurrentSite) -> CaseRecorded:
    """One case's metrics or sanitized category, once per (lease, case); a retry of the
    same result is answered ``recorded: false``."""
    stored = leases.record_case(db=db, site=site, lease_id=lease_id, case_id=case_id,
                                report=body)
    return CaseRecorded(case_id=case_id, recorded=stored)


@router.post("/site/leases/{lease_id}/finish", response_model=FinishAnswer)
def finish(lease_id: LeaseId, body: FinishRequest, db: SessionDep, site: CurrentSite,
           settings: SettingsDep) -> FinishAnswer:
    """End the job: ``completed`` once every case is reported (the platform decides succeeded
    or failed as for its own workers), or why it could not run."""
    state = leases.finish(db=db, site=site, lease_id=lease_id, request=body, settings=settings)
    return FinishAnswer(state=state.value)
