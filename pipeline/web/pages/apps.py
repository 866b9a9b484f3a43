from django.apps import AppConfig


class PagesConfig(AppConfig):
    name = "pipeline.web.pages"
    label = "pages"
