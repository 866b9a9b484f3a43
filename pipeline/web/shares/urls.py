from django.urls import path

from pipeline.web.shares import views

app_name = "shares"
urlpatterns = [
    path("sent/", views.sent, name="sent"),
    path("sent/<int:pk>/", views.detail, name="detail"),
    path("sent/<int:pk>/revoke/", views.revoke, name="revoke"),
    path("sent/<int:pk>/resend/", views.resend, name="resend"),
    path("s/<str:token>/", views.client, name="client"),
    path("s/<str:token>/download/", views.download, name="download"),
    path("<slug:slug>/send/", views.send, name="send"),
]
