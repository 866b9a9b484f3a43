"""The studio's pages and the JSON the page's script talks to.

Every view needs a signed-in therapist and reads and writes only their own voice role: a
role in a URL that is not theirs is refused, and nothing else in a request names a folder.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pipeline.web.studio import recording
from pipeline.web.studio.models import Build, Speaker
from pipeline.web.studio.recording import UploadRefused


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "web/not_found.html", status=404)


def _refused(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _own_role(request: HttpRequest, role: str) -> tuple[Speaker, JsonResponse | None]:
    speaker = recording.speaker_for(request.user)
    if role != speaker.role:
        return speaker, _refused(
            "That voice belongs to another therapist: you can record only in your own voice.",
            403,
        )
    return speaker, None


@never_cache
@login_required
@require_GET
def choose(request: HttpRequest, slug: str) -> HttpResponse:
    locales = recording.script_locales(slug)
    if not locales:
        return _not_found(request)
    return redirect("studio:studio", slug=slug, locale=locales[0])


@never_cache
@login_required
@require_GET
def studio(request: HttpRequest, slug: str, locale: str) -> HttpResponse:
    plan = recording.load_plan(slug, locale)
    if plan is None:
        return _not_found(request)
    speaker = recording.speaker_for(request.user)
    segments, _ = recording.segment_views(plan, speaker.role)
    context: dict[str, Any] = {
        "plan": plan,
        "slug": slug,
        "locale": locale,
        "locales": recording.script_locales(slug),
        "role": speaker.role,
        "segments": segments,
        "status": recording.status_data(plan, speaker.role),
        "voices": recording.fill_voices(locale),
        "build": _latest(speaker, slug, locale),
        "has_track": recording.track_file(speaker.role, slug, locale) is not None,
    }
    return render(request, "studio/studio.html", context)


@never_cache
@login_required
@require_GET
def status(request: HttpRequest, slug: str, locale: str) -> HttpResponse:
    plan = recording.load_plan(slug, locale)
    if plan is None:
        return _refused("There is no such script or language.", 404)
    speaker = recording.speaker_for(request.user)
    return JsonResponse(recording.status_data(plan, speaker.role))


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def take(request: HttpRequest, role: str, slug: str, locale: str, segment: str) -> HttpResponse:
    """POST stores a take of ``segment``; GET plays the stored one back."""
    speaker, refusal = _own_role(request, role)
    if refusal is not None:
        return refusal
    plan = recording.load_plan(slug, locale)
    if plan is None:
        return _refused("There is no such script or language.", 404)
    if request.method == "GET":
        path = recording.take_file(speaker.role, slug, segment)
        if path is None:
            return _refused(f"There is no take of {segment} yet.", 404)
        return FileResponse(path.open("rb"), content_type="audio/flac")
    try:
        recording.store_take(plan, speaker.role, segment, request.FILES.get("audio"))
    except UploadRefused as refused:
        return _refused(str(refused), refused.status)
    return JsonResponse({"stored": segment, **recording.status_data(plan, speaker.role)})


@never_cache
@login_required
@require_POST
def reading(request: HttpRequest, role: str, slug: str, locale: str) -> HttpResponse:
    """A reading of the whole script in one take, split into takes."""
    speaker, refusal = _own_role(request, role)
    if refusal is not None:
        return refusal
    plan = recording.load_plan(slug, locale)
    if plan is None:
        return _refused("There is no such script or language.", 404)
    try:
        split = recording.store_reading(plan, speaker.role, request.FILES.get("audio"))
    except UploadRefused as refused:
        return _refused(str(refused), refused.status)
    return JsonResponse({"split": split, **recording.status_data(plan, speaker.role)})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def build(request: HttpRequest, slug: str, locale: str) -> HttpResponse:
    """POST starts "Build my track"; GET says how the latest build is getting on."""
    plan = recording.load_plan(slug, locale)
    if plan is None:
        return _refused("There is no such script or language.", 404)
    speaker = recording.speaker_for(request.user)
    if request.method == "POST":
        fill = request.POST.get("fill", "")
        if fill and fill not in dict(recording.fill_voices(locale)):
            return _refused("Choose one of the voices offered to fill in missing segments.", 400)
        running = Build.objects.filter(speaker=speaker, pk__in=recording.active_builds()).first()
        job = running or recording.start_build(speaker, slug, locale, fill)
        return JsonResponse(recording.build_data(job), status=202)
    return JsonResponse(recording.build_data(_latest(speaker, slug, locale)))


@never_cache
@login_required
@require_GET
def track(request: HttpRequest, slug: str, locale: str) -> HttpResponse:
    speaker = recording.speaker_for(request.user)
    path = recording.track_file(speaker.role, slug, locale)
    if path is None:
        return _not_found(request)
    return FileResponse(path.open("rb"), content_type="audio/mpeg")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def send(request: HttpRequest, slug: str, locale: str) -> HttpResponse:
    """The studio's "Send securely to my client": the share form of the published tracks,
    for the track built here; the client gets a copy of it as it is now."""
    from pipeline.web.shares.forms import SendForm
    from pipeline.web.shares.services import ShareRequest, create_share
    from pipeline.web.shares.views import _link_builder

    plan = recording.load_plan(slug, locale)
    speaker = recording.speaker_for(request.user)
    if plan is None or recording.track_file(speaker.role, slug, locale) is None:
        return _not_found(request)
    language = recording.language_name(locale)
    form = SendForm(request.POST or None, languages=[(locale, language)])
    if request.method == "POST" and form.is_valid():
        wanted = ShareRequest(
            slug=slug,
            locale=locale,
            title=plan.meta.title,
            language=language,
            client_email=form.cleaned_data["client_email"],
            days=form.cleaned_data["days"],
            downloads=form.cleaned_data["downloads"],
        )
        user: Any = request.user
        share = recording.share_own_track(
            speaker, wanted, lambda: create_share(user, wanted, _link_builder(request))
        )
        return redirect("shares:detail", pk=share.pk)
    context = {"resource": {"title": plan.meta.title, "slug": slug}, "form": form}
    return render(request, "studio/send.html", {**context, "locale": locale})


def _latest(speaker: Speaker, slug: str, locale: str) -> Build | None:
    return Build.objects.filter(speaker=speaker, slug=slug, locale=locale).first()
