from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm


class SignInForm(AuthenticationForm):
    """Django's sign-in form, asking for the account's email address."""

    username = forms.EmailField(
        label="Email",
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Please enter a correct email and password.",
    }

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_username(self) -> str:
        return normalise_email(self.cleaned_data["username"])


def normalise_email(address: str) -> str:
    return address.strip().lower()


def axes_username(request, credentials: dict | None) -> str:
    """The account a sign-in attempt counts against, spelt as stored, so "A@x.org" and
    "a@x.org" share one limit."""
    raw = (credentials or {}).get("username") or request.POST.get("username", "")
    return normalise_email(str(raw))
