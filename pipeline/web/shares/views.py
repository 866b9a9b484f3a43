"""The therapist's side of sharing (send, the "Sent" list, revoke, re-send) and the
client's (the link's page and its download).

Every therapist view needs a signed-in account and shows only that account's shares. The
client's views need no account and no JavaScript; a token is looked up by its hash, and an
unknown one costs the same work as a known one before its 404.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_ratelimit.core import get_usage

from pipeline.web import catalogue
from pipeline.web.shares.forms import SendForm
from pipeline.web.shares.models import Share
from pipeline.web.shares.services import (
    LinkBuilder,
    ShareRequest,
    claim_download,
    create_share,
    find_share,
    mark_opened,
    resend_share,
    revoke_share,
)


def _link_builder(request: HttpRequest) -> LinkBuilder:
    return LinkBuilder(settings.BASE_URL or request.build_absolute_uri("/"))


@never_cache
@login_required
def send(request: HttpRequest, slug: str) -> HttpResponse:
    resource = catalogue.resource(slug)
    if resource is None:
        return _not_found(request)
    languages = [(t.locale, t.language) for t in resource.tracks]
    form = SendForm(request.POST or None, languages=languages)
    if request.method == "POST" and form.is_valid():
        track = resource.track(form.cleaned_data["locale"])
        assert track is not None  # the form offers only the resource's own locales
        share = create_share(
            request.user,  # type: ignore[arg-type]
            ShareRequest(
                slug=resource.slug,
                locale=track.locale,
                title=resource.title,
                language=track.language,
                client_email=form.cleaned_data["client_email"],
                days=form.cleaned_data["days"],
                downloads=form.cleaned_data["downloads"],
            ),
            _link_builder(request),
        )
        return redirect("shares:detail", pk=share.pk)
    return render(request, "web/send.html", {"resource": resource, "form": form})


@never_cache
@login_required
def sent(request: HttpRequest) -> HttpResponse:
    shares = Share.objects.filter(sender=request.user)  # type: ignore[misc]
    return render(request, "web/sent.html", {"shares": shares})


@never_cache
@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    share = get_object_or_404(Share, pk=pk, sender=request.user)
    return render(request, "web/share.html", {"share": share})


@never_cache
@login_required
@require_POST
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    share = get_object_or_404(Share, pk=pk, sender=request.user)
    revoke_share(share)
    return redirect("shares:sent")


@never_cache
@login_required
@require_POST
def resend(request: HttpRequest, pk: int) -> HttpResponse:
    share = get_object_or_404(Share, pk=pk, sender=request.user)
    if share.usable and share.client_email:
        resend_share(share, _link_builder(request))
    return redirect("shares:detail", pk=share.pk)


@never_cache
def client(request: HttpRequest, token: str) -> HttpResponse:
    share, refusal = _client_share(request, token)
    if share is None:
        return refusal
    mark_opened(share)
    return render(request, "web/client.html", {"share": share, "token": token})


# No CSRF token: the link's token is itself the secret a forged request would need, and the
# client's pages keep Referrer-Policy no-referrer, under which browsers send "Origin: null",
# which Django's CSRF check refuses. A POST still keeps mail scanners, which follow links
# but do not submit forms, from using up the downloads.
@csrf_exempt
@never_cache
@require_POST
def download(request: HttpRequest, token: str) -> HttpResponse:
    share, refusal = _client_share(request, token)
    if share is None:
        return refusal
    own = getattr(share, "own_track", None)  # a track recorded in the studio
    path = own.file() if own is not None else catalogue.track_file(share.slug, share.locale)
    if path is None:
        return _gone(request)
    if not claim_download(share):
        return _gone(request)
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"{share.slug}.{share.locale}.mp3",
        content_type="audio/mpeg",
    )


def _client_share(request: HttpRequest, token: str) -> tuple[Share | None, HttpResponse]:
    """The usable share a token opens, or None and the response that refuses it: 429 once
    an address has guessed too many unknown tokens, 404 for an unknown token, 410 for an
    expired, revoked or used-up one."""
    guesses = {"group": "share-token", "key": "ip", "rate": settings.SHARE_GUESS_RATE}
    usage = get_usage(request, increment=False, **guesses)
    if usage is not None and usage["count"] >= usage["limit"]:
        return None, render(request, "web/too_many.html", status=429)
    share = find_share(token)
    if share is None:
        get_usage(request, increment=True, **guesses)  # only unknown tokens count
        return None, _not_found(request)
    if not share.usable:
        return None, _gone(request)
    return share, HttpResponse()


def _gone(request: HttpRequest) -> HttpResponse:
    return render(request, "web/gone.html", status=410)


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "web/not_found.html", status=404)
