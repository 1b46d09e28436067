from __future__ import annotations

from fastapi import APIRouter, status

from challenge.accounts import service
from challenge.accounts.models import Role
from challenge.accounts.schemas import (
    AdminUserCreate,
    PasswordSet,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserCreate,
    UserPublic,
)
from challenge.core.deps import CurrentUser, OptionalUser, SessionDep, TokenId

router = APIRouter(tags=["accounts"])


def _created(user, token, plaintext) -> TokenCreated:  # type: ignore[no-untyped-def]
    return TokenCreated(user=UserPublic.model_validate(user), token_id=token.id, token=plaintext)


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=TokenCreated)
def sign_up(body: UserCreate, db: SessionDep, actor: OptionalUser) -> TokenCreated:
    """Create a participant account; the API token in the answer is shown only this once."""
    return _created(*service.create_user(db=db, actor=actor, username=body.username,
                                         email=body.email, role=Role.participant))


@router.post("/admin/users", status_code=status.HTTP_201_CREATED, response_model=TokenCreated)
def admin_create_user(body: AdminUserCreate, db: SessionDep, actor: CurrentUser) -> TokenCreated:
    """Admin only: create an organizer (or admin, or participant) account with a first token."""
    return _created(*service.create_user(db=db, actor=actor, username=body.username,
                                         email=body.email, role=body.role))


@router.get("/admin/users", response_model=list[UserPublic])
def admin_list_users(db: SessionDep, actor: CurrentUser) -> list[UserPublic]:
    return [UserPublic.model_validate(u) for u in service.list_users(db=db, actor=actor)]


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)


@router.put("/me/password", response_model=UserPublic)
def set_my_password(body: PasswordSet, db: SessionDep, user: CurrentUser) -> UserPublic:
    """Set or replace your password for signing in to the web app (an account created by an
    admin has none). API tokens and web sessions stay valid."""
    return UserPublic.model_validate(service.set_password(db=db, user=user,
                                                          password=body.password))


@router.get("/me/tokens", response_model=list[TokenPublic])
def my_tokens(db: SessionDep, user: CurrentUser) -> list[TokenPublic]:
    return [TokenPublic.model_validate(t) for t in service.list_tokens(db=db, user=user)]


@router.post("/me/tokens", status_code=status.HTTP_201_CREATED, response_model=TokenCreated)
def create_token(body: TokenCreate, db: SessionDep, user: CurrentUser) -> TokenCreated:
    token, plaintext = service.create_token(db=db, user=user, name=body.name)
    return _created(user, token, plaintext)


@router.delete("/me/tokens/{token_id}", response_model=TokenPublic)
def revoke_token(token_id: TokenId, db: SessionDep, user: CurrentUser) -> TokenPublic:
    return TokenPublic.model_validate(service.revoke_token(db=db, user=user, token_id=token_id))
