"""Pages of the project itself (not of one app)."""

from django.shortcuts import render


def home(request):
    """Where a browser lands: links to the console and the API docs."""
    return render(request, "home.html")
