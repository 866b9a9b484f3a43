"""Therapist accounts from the command line: ``voicetrack users add|list|remove``.

Each account is a Django user whose user name is its email address, lower-cased. The
password goes through Django's validators and is stored as an Argon2 hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from pipeline.web import ServeError
from pipeline.web.accounts.forms import normalise_email


@dataclass(frozen=True)
class Account:
    email: str
    joined: datetime
    last_sign_in: datetime | None
    shares: int


def add_user(email: str, password: str) -> str:
    address = normalise_email(email)
    try:
        validate_email(address)
    except ValidationError:
        raise ServeError(f"not an email address: {email}") from None
    model = get_user_model()
    if model.objects.filter(username=address).exists():
        raise ServeError(f"there is already an account for {address}")
    user = model(username=address, email=address)
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise ServeError("the password is too weak: " + " ".join(error.messages)) from None
    with transaction.atomic():
        user.set_password(password)
        user.save()
    return address


def list_users() -> list[Account]:
    model = get_user_model()
    return [
        Account(u.username, u.date_joined, u.last_login, u.shares.count())
        for u in model.objects.order_by("username")
    ]


def remove_user(email: str) -> str:
    address = normalise_email(email)
    deleted, _ = get_user_model().objects.filter(username=address).delete()
    if not deleted:
        raise ServeError(f"there is no account for {address}")
    return address
