import django_filters

from core.timestamps import TimestampFilter
from events.reads import plate_normalize

from .models import Hit, Watchlist, WatchlistEntry
from .selectors import watchlists_visible


class WatchlistFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Watchlist
        fields = ("kind", "enabled", "covert", "match_strategy", "name")


class WatchlistEntryFilter(django_filters.FilterSet):
    plate = django_filters.CharFilter(method="_plate")
    valid_at = TimestampFilter(method="_valid_at")

    class Meta:
        model = WatchlistEntry
        fields = ("category", "plate")

    def _plate(self, queryset, name, value):
        return queryset.filter(plate__startswith=plate_normalize(value) or value.upper())

    def _valid_at(self, queryset, name, value):
        return queryset.exclude(valid_from__gt=value).exclude(valid_until__lte=value)


def _lists_visible(request):
    """A covert list's id must not reveal it exists (200 vs 400) to those who cannot see it."""
    return watchlists_visible(user=getattr(request, "user", None))


class HitFilter(django_filters.FilterSet):
    watchlist = django_filters.ModelChoiceFilter(queryset=_lists_visible)
    plate = django_filters.CharFilter(method="_plate")
    captured_after = TimestampFilter(field_name="captured_at", lookup_expr="gte")
    captured_before = TimestampFilter(field_name="captured_at", lookup_expr="lt")

    class Meta:
        model = Hit
        fields = ("watchlist", "category", "camera", "status", "plate")

    def _plate(self, queryset, name, value):
        return queryset.filter(plate=plate_normalize(value))
