"""HTTP for users and sign-in: parse, authorize, call the service, shape the answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, status
from fastapi.responses import JSONResponse

from opsledger.kit.errors import (
    AUTH_ERRORS,
    Conflict,
    NotFound,
    RateLimited,
    Unauthorized,
    ValidationFailed,
    problem_responses,
)
from opsledger.kit.filtering import ListQuery
from opsledger.kit.http import PathId, problem_response
from opsledger.kit.pagination import Page
from opsledger.kit.routers import api_router
from opsledger.security.auth import Require, RequireListing, RequireRead, anonymous_context
from opsledger.security.context import Ctx
from opsledger.security.throttle import LoginThrottle
from opsledger.users import service
from opsledger.users.schemas import (
    LoginRequest,
    PasswordChange,
    PasswordReset,
    TokenResponse,
    UserCreate,
    UserRead,
    UserUpdate,
)

router = api_router("/users", "users")
auth_router = api_router("/auth", "auth")

LOGIN_FAILED = "invalid username or password"


async def login_throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


Throttle = Annotated[LoginThrottle, Depends(login_throttle)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(*AUTH_ERRORS, Conflict, ValidationFailed),
)
async def create_user(
    body: UserCreate, ctx: Annotated[Ctx, Depends(Require("users:write"))]
) -> UserRead:
    return UserRead.model_validate(await service.create(ctx, body))


@router.get("", responses=problem_responses(*AUTH_ERRORS, ValidationFailed))
async def list_users(
    ctx: Annotated[Ctx, Depends(RequireListing("users:read"))],
    query: Annotated[ListQuery, Query()],
) -> Page[UserRead]:
    rows = await service.page(ctx, query.limit, query.after)
    return rows.read(UserRead.model_validate)


@router.get("/me", responses=problem_responses(*AUTH_ERRORS))
async def read_me(ctx: Annotated[Ctx, Depends(RequireRead("self"))]) -> UserRead:
    return await service.read(ctx, ctx.user_id)


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    response_model=None,
    responses=problem_responses(*AUTH_ERRORS, ValidationFailed, RateLimited),
)
async def change_my_password(
    body: PasswordChange,
    ctx: Annotated[Ctx, Depends(Require("self"))],
    throttle: Throttle,
) -> JSONResponse | None:
    """Wrong current passwords are limited per user as sign-ins are (429 past the limit)
    and audited."""
    try:
        await service.change_own_password(
            ctx,
            throttle,
            body.current_password.get_secret_value(),
            body.new_password.get_secret_value(),
        )
    except service.WrongPassword as exc:  # answered, not raised: its audit row commits
        return problem_response(exc.status, exc.detail)
    return None


@router.get("/{user_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed))
async def read_user(
    user_id: PathId, ctx: Annotated[Ctx, Depends(RequireRead("users:read"))]
) -> UserRead:
    return await service.read(ctx, user_id)


@router.patch(
    "/{user_id}", responses=problem_responses(*AUTH_ERRORS, NotFound, Conflict, ValidationFailed)
)
async def update_user(
    user_id: PathId, body: UserUpdate, ctx: Annotated[Ctx, Depends(Require("users:write"))]
) -> UserRead:
    return UserRead.model_validate(await service.update(ctx, user_id, body))


@router.post(
    "/{user_id}/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed),
)
async def reset_password(
    user_id: PathId, body: PasswordReset, ctx: Annotated[Ctx, Depends(Require("users:write"))]
) -> None:
    await service.reset_password(ctx, user_id, body.new_password.get_secret_value())


@router.post(
    "/{user_id}/unlock", responses=problem_responses(*AUTH_ERRORS, NotFound, ValidationFailed)
)
async def unlock_user(
    user_id: PathId, ctx: Annotated[Ctx, Depends(Require("users:write"))]
) -> UserRead:
    """Clear the user's failed-login limit at once, in every server process."""
    return UserRead.model_validate(await service.unlock(ctx, user_id))


@auth_router.post(
    "/login",
    response_model=TokenResponse,
    responses=problem_responses(Unauthorized, RateLimited, ValidationFailed),
)
async def login(
    body: LoginRequest,
    ctx: Annotated[Ctx, Depends(anonymous_context)],
    throttle: Throttle,
) -> TokenResponse | JSONResponse:
    token = await service.login(ctx, throttle, body)
    if token is None:
        # Answered, not raised: the failed attempt's audit row must still commit.
        return problem_response(401, LOGIN_FAILED)
    return TokenResponse(access_token=token.access_token, expires_in=token.expires_in)


@auth_router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*AUTH_ERRORS, ValidationFailed),
)
async def logout(ctx: Annotated[Ctx, Depends(Require("self"))]) -> None:
    """End the token this request carries, at once (other tokens stay valid)."""
    await service.logout(ctx)


@auth_router.post(
    "/logout-all", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(*AUTH_ERRORS)
)
async def logout_all(ctx: Annotated[Ctx, Depends(Require("self"))]) -> None:
    """End every token of the caller (API keys stay valid; revoke them separately)."""
    await service.logout_all(ctx)
