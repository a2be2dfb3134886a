"""The custody log's signer from settings: the configured key, or the one kept in the data directory."""

from __future__ import annotations

from evidence import signing_key
from evidence.custody_checkpoints import Signer
from storage_config.settings import Settings


def signer(settings: Settings) -> Signer:
    """``EVIDENCE_SIGNING_KEY`` when set, else the key file (created owner-only at first use)."""
    if settings.signing_key is not None:
        return Signer(signing_key.from_text(settings.signing_key.get_secret_value().strip(), settings.log_origin))
    assert settings.signing_key_file is not None  # derived from home when unset
    return Signer(signing_key.load_or_create(settings.signing_key_file, settings.log_origin))
