"""The instance folder, ``<root>/instance/``: what a running server keeps of its own.

It holds the SQLite database and the secret key that signs sessions and CSRF tokens. The key
is made on first use from the operating system's CSPRNG and written readable by its owner
only (0600); the folder itself is 0700. Nothing here imports Django.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

INSTANCE_FOLDER = "instance"
SECRET_KEY_FILE = "secret_key"
DATABASE_FILE = "voicetrack.sqlite3"


def instance_folder(root: Path) -> Path:
    """``root/instance/``, made (owner-only) if it does not exist yet."""
    folder = root / INSTANCE_FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def secret_key(folder: Path) -> str:
    """The key stored in ``folder``, generated and stored with mode 0600 on first use."""
    path = folder / SECRET_KEY_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(secrets.token_urlsafe(64) + "\n")
    return path.read_text(encoding="ascii").strip()
