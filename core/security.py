"""Who the client is behind our proxy, and the limit on failed admin sign-ins."""

import hashlib
import logging

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError

logger = logging.getLogger("anpr.security")


def client_ip(request) -> str:
    """The caller's address: REMOTE_ADDR, or CLIENT_IP_HEADER when a proxy we run sets it
    (nginx overwrites X-Real-IP, so a client cannot choose its own address)."""
    if settings.CLIENT_IP_HEADER:
        meta_name = "HTTP_" + settings.CLIENT_IP_HEADER.upper().replace("-", "_")
        forwarded = request.META.get(meta_name, "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR", "")


def _failures_key(username: str, address: str) -> str:
    # Hashed: the cache (Redis) need not hold user names and addresses in clear.
    digest = hashlib.sha256(f"{username.strip().lower()}|{address}".encode()).hexdigest()
    return f"admin-login-failures:{digest}"


class LimitedAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin sign-in form, refusing a user name from an address after
    ADMIN_LOGIN_MAX_FAILURES refused sign-ins for ADMIN_LOGIN_LOCKOUT_SECONDS, even with the
    right password, so passwords cannot be guessed at the admin's speed. Every refusal
    counts (also one without a password); only a user actually signed in clears the count."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "locked": "Too many failed sign-ins for this account from your address. "
        "Try again in %(minutes)d minute(s).",
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = client_ip(self.request) if self.request else ""
        key = _failures_key(username, address)
        if (cache.get(key) or 0) >= settings.ADMIN_LOGIN_MAX_FAILURES:
            logger.warning("admin sign-in refused: locked", extra={"username": username})
            raise ValidationError(
                self.error_messages["locked"],
                code="locked",
                params={"minutes": max(1, settings.ADMIN_LOGIN_LOCKOUT_SECONDS // 60)},
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            _failure_counted(key, username)
            raise
        if self.get_user() is None:
            # Refused without an authentication (no password: Django's clean() returns
            # early and the field error refuses it). Only a user actually signed in clears.
            _failure_counted(key, username)
        else:
            cache.delete(key)
        return cleaned


def _failure_counted(key: str, username: str) -> None:
    if not username:
        return
    # add() starts the window; incr() keeps its expiry on both cache backends.
    if not cache.add(key, 1, timeout=settings.ADMIN_LOGIN_LOCKOUT_SECONDS):
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=settings.ADMIN_LOGIN_LOCKOUT_SECONDS)
    logger.warning("admin sign-in failed", extra={"username": username})


class SignInForm(LimitedAdminAuthenticationForm):
    """The admin's sign-in limit without its staff-only rule: viewers watch the live map."""

    def confirm_login_allowed(self, user):
        AuthenticationForm.confirm_login_allowed(self, user)


class SignInView(auth_views.LoginView):
    template_name = "registration/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True
