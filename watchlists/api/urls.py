from rest_framework.routers import SimpleRouter

from .views import HitViewSet, WatchlistEntryViewSet, WatchlistImportViewSet, WatchlistViewSet

router = SimpleRouter()
router.register("watchlists", WatchlistViewSet, basename="watchlist")
router.register(
    r"watchlists/(?P<watchlist_pk>[0-9]+)/entries",
    WatchlistEntryViewSet,
    basename="watchlist-entry",
)
router.register(
    r"watchlists/(?P<watchlist_pk>[0-9]+)/imports",
    WatchlistImportViewSet,
    basename="watchlist-import",
)
router.register("hits", HitViewSet, basename="hit")

urlpatterns = router.urls
