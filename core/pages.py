"""The operators' pages: one registry of what the top bar links to.

An app adds a page (a work list, a chart, a map) by registering it in its
`AppConfig.ready()`; the shared layout (`templates/operators/base.html`) shows each signed-in
user the pages their role may open, in a fixed order. `core` imports no app, so apps call in.
"""

from dataclasses import dataclass

from django.urls import reverse


@dataclass(frozen=True)
class OperatorPage:
    """One entry of the top bar: its URL name, label, place and the permission it needs."""

    url_name: str
    label: str
    order: int
    permission: str


_PAGES: dict[str, OperatorPage] = {}


def operator_page_register(page: OperatorPage) -> None:
    """Add (or replace, by URL name) a page of the top bar."""
    _PAGES[page.url_name] = page


def operator_page_unregister(url_name: str) -> None:
    """Remove a page (tests, or an app that offers it only under a setting)."""
    _PAGES.pop(url_name, None)


def operator_pages_for(*, user) -> list[dict[str, str]]:
    """The pages `user` may open, in order, as label and URL."""
    if not user.is_authenticated:
        return []
    pages = sorted(_PAGES.values(), key=lambda page: (page.order, page.label))
    return [
        {"name": page.url_name, "label": page.label, "url": reverse(page.url_name)}
        for page in pages
        if user.has_perm(page.permission)
    ]


def operator_navigation(request) -> dict:
    """Template context processor: the top bar's links, and which one is open."""
    user = getattr(request, "user", None)
    if user is None:
        return {}
    match = getattr(request, "resolver_match", None)
    return {
        "operator_pages": operator_pages_for(user=user),
        "operator_page_current": match.url_name if match else "",
    }
