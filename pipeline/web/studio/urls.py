from django.urls import path

from pipeline.web.studio import views

app_name = "studio"
urlpatterns = [
    path("<slug:slug>/", views.choose, name="choose"),
    path("<slug:slug>/<str:locale>/", views.studio, name="studio"),
    path("<slug:slug>/<str:locale>/status/", views.status, name="status"),
    path("<slug:slug>/<str:locale>/build/", views.build, name="build"),
    path("<slug:slug>/<str:locale>/track.mp3", views.track, name="track"),
    path("<slug:slug>/<str:locale>/send/", views.send, name="send"),
    path("voice/<str:role>/<slug:slug>/<str:locale>/reading/", views.reading, name="reading"),
    path(
        "voice/<str:role>/<slug:slug>/<str:locale>/takes/<str:segment>/",
        views.take,
        name="take",
    ),
]
