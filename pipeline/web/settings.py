"""Django settings for ``voicetrack serve``, read from the project and the environment.

The project root is ``VOICETRACK_ROOT`` (default: the working directory). From it come
``voicetrack.toml`` (``[site]`` for the base URL, ``[email]`` for the mail server, whose
password is read from the environment variable it names), the published site in
``out/site/`` and the instance folder with the database and the secret key.

``VOICETRACK_DATABASE_URL`` (for instance ``postgres://user:password@host/db``) replaces the
SQLite database with any database Django supports.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from csp.constants import NONE, SELF

from pipeline.settings import load_settings
from pipeline.site.preview import MEDIA_TYPES
from pipeline.web.instance import DATABASE_FILE, instance_folder, secret_key

ROOT = Path(os.environ.get("VOICETRACK_ROOT") or os.getcwd()).resolve()
PROJECT = load_settings(ROOT)
INSTANCE = instance_folder(ROOT)
SITE_DIR = ROOT / "out" / "site"
BASE_URL = PROJECT.site.base_url
WEB_DIR = Path(__file__).resolve().parent

SECRET_KEY = secret_key(INSTANCE)
DEBUG = False

ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ALLOWED_HOSTS += [h for h in os.environ.get("VOICETRACK_HOSTS", "").split(",") if h]
CSRF_TRUSTED_ORIGINS: list[str] = []
if BASE_URL:
    _base = urlsplit(BASE_URL)
    ALLOWED_HOSTS.append(_base.hostname or "")
    CSRF_TRUSTED_ORIGINS.append(f"{_base.scheme}://{_base.netloc}")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "axes",
    "pipeline.web.pages",
    "pipeline.web.accounts",
    "pipeline.web.shares",
    "django.contrib.staticfiles",
    "pipeline.web.studio",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "pipeline.web.middleware.SecureCookiesOverHttps",
    # Published media and static files, with Range requests, under the headers above.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "pipeline.web.urls"
WSGI_APPLICATION = "pipeline.web.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        # The server's own templates (under web/); the site's environment adds its own
        # templates after them, so web/resource.html extends the site's resource.html and
        # the public pages come from one set of templates.
        "DIRS": [WEB_DIR / "templates", WEB_DIR / "studio" / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {
            "environment": "pipeline.web.templating.environment",
            "context_processors": ["pipeline.web.pages.views.site_frame"],
        },
    }
]

if os.environ.get("VOICETRACK_DATABASE_URL"):
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(os.environ["VOICETRACK_DATABASE_URL"])}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(INSTANCE / DATABASE_FILE),
            # WAL lets the page views read while a download is counted; IMMEDIATE takes
            # the write lock up front, so concurrent writers wait (up to 30 s on a busy
            # machine) instead of failing.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# One server process with threads, so an in-process cache is shared by every request.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:sign-in"
LOGIN_REDIRECT_URL = "pages:index"
LOGOUT_REDIRECT_URL = "pages:index"

# Failed sign-ins: after 5 from one address, or 5 for one account, that address or account
# waits 15 minutes. A success clears the count.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "web/locked.html"
AXES_USERNAME_CALLABLE = "pipeline.web.accounts.forms.axes_username"
# The client address is REMOTE_ADDR; behind a proxy, waitress sets it from X-Forwarded-For
# when started with --trusted-proxy.
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

# Unknown share tokens one address may try before it must wait.
SHARE_GUESS_RATE = "20/h"

SESSION_COOKIE_AGE = int(timedelta(hours=12).total_seconds())
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Strict"
if BASE_URL and BASE_URL.startswith("https:"):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "no-referrer"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# The published files (media, static, feeds) come from out/site/ through WhiteNoise, with
# Range requests; the pages themselves are rendered by the views. Files are looked up on
# each request, so a site published again while the server runs is served at once.
STATIC_URL = "/static/"
WHITENOISE_ROOT = SITE_DIR
WHITENOISE_INDEX_FILE = False
WHITENOISE_AUTOREFRESH = True
WHITENOISE_MIMETYPES = MEDIA_TYPES
# The apps' own static files (the studio's script and styles), under /static/<app>/.
WHITENOISE_USE_FINDERS = True

if PROJECT.email is None:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    DEFAULT_FROM_EMAIL = "voicetrack <voicetrack@localhost>"
else:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = PROJECT.email.host
    EMAIL_PORT = PROJECT.email.port
    EMAIL_HOST_USER = PROJECT.email.username or ""
    EMAIL_HOST_PASSWORD = os.environ.get(PROJECT.email.password_env or "", "")
    EMAIL_USE_TLS = PROJECT.email.security == "starttls"
    EMAIL_USE_SSL = PROJECT.email.security == "ssl"
    EMAIL_TIMEOUT = 30
    DEFAULT_FROM_EMAIL = PROJECT.email.from_address

# Days after a share ends (expired, revoked or used up) before the client's address is erased.
ADDRESS_RETENTION_DAYS = PROJECT.serve.address_retention_days

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-gb"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"share_tokens": {"()": "pipeline.web.logs.RedactShareTokens"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["share_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    # On the loggers too, so a record is redacted before any handler (or test) sees it.
    "loggers": {
        "django.request": {"filters": ["share_tokens"]},
        "django.security": {"filters": ["share_tokens"]},
        "waitress": {"filters": ["share_tokens"]},
        "axes": {"level": "WARNING"},
    },
}
