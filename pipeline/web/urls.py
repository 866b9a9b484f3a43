from django.urls import include, path

urlpatterns = [
    path("account/", include("pipeline.web.accounts.urls")),
    path("", include("pipeline.web.shares.urls")),
    path("record/", include("pipeline.web.studio.urls")),
    path("", include("pipeline.web.pages.urls")),
]

handler404 = "pipeline.web.pages.views.not_found"
