"""Signing in and out, through Django's own views; failed sign-ins are throttled by
django-axes per account and per address (see ``AXES_*`` in the settings)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views

from pipeline.web.accounts.forms import SignInForm


class SignInView(auth_views.LoginView):
    template_name = "web/sign_in.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True


class SignOutView(auth_views.LogoutView):
    pass
