from django.urls import path

from pipeline.web.pages import views

app_name = "pages"
urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:slug>/", views.resource, name="resource"),
]
