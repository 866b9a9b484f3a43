from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "pipeline.web.accounts"
    label = "accounts"
