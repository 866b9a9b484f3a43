from django.apps import AppConfig


class SharesConfig(AppConfig):
    name = "pipeline.web.shares"
    label = "shares"
    verbose_name = "shares"
