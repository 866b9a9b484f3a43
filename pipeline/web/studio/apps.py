from django.apps import AppConfig


class StudioConfig(AppConfig):
    name = "pipeline.web.studio"
    label = "studio"
