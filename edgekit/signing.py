"""Ed25519 signatures over a bundle's manifest, which holds the sha256 of every file.

``sign`` writes ``signature.json`` beside the manifest; ``verify`` (and ``load`` with
``verify_key=``) refuses a bundle that is unsigned, signed by another key, or whose
manifest changed after signing. Needs the ``cryptography`` package (``edgekit[signing]``),
imported only here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from edgekit.bundle import MANIFEST, Bundle, write_atomic
from edgekit.errors import BundleError, InputError, TargetUnavailable
from edgekit.layout import Layout

SIGNATURE_FILE = Layout.SIGNATURE
INSTALL_HINT = "pip install 'edgekit[signing]' (or: pip install cryptography)"


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as err:
        raise TargetUnavailable(f"signing needs the cryptography package ({INSTALL_HINT})") from err
    return serialization, ed25519


def generate_key(private_path: Path) -> Path:
    """Writes a new Ed25519 private key (PEM, mode 600) and its public key (``.pub``)."""
    from edgekit.safeio import check_output_path

    serialization, ed25519 = _crypto()
    check_output_path(private_path, "key file")
    check_output_path(private_path.with_name(private_path.name + ".pub"), "public key file")
    if private_path.exists() or private_path.is_symlink():
        raise InputError(f"'{private_path}' already exists; refusing to overwrite a key")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public = private_path.with_name(private_path.name + ".pub")
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return public


def _load_private(path: Path) -> Any:
    serialization, ed25519 = _crypto()
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as err:
        raise InputError(f"cannot read private key '{path}': {err}") from err
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise InputError(f"'{path}' is not an Ed25519 private key")
    return key


def _load_public(key: str | os.PathLike[str] | bytes) -> Any:
    serialization, ed25519 = _crypto()
    try:
        data = key if isinstance(key, bytes) else Path(key).read_bytes()
    except OSError as err:
        raise InputError(f"cannot read verify key '{key}': {err.strerror or err}") from err
    try:
        public = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            public = ed25519.Ed25519PublicKey.from_public_bytes(data)
        except ValueError as err:
            raise InputError("verify key is neither a PEM public key nor 32 raw Ed25519 bytes") from err
    if not isinstance(public, ed25519.Ed25519PublicKey):
        raise InputError("verify key is not an Ed25519 public key")
    return public


def _fingerprint(public: Any) -> str:
    serialization, _ = _crypto()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def sign(bundle: Bundle, private_key: str | os.PathLike[str]) -> Path:
    """Signs the bundle's manifest bytes; writes ``signature.json`` atomically."""
    key = _load_private(Path(private_key))
    manifest = bundle.raw if bundle.raw is not None else (bundle.path / MANIFEST).read_bytes()
    doc = {"algorithm": "ed25519", "signed": MANIFEST,
           "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
           "key_sha256": _fingerprint(key.public_key()),
           "signature": base64.b64encode(key.sign(manifest)).decode()}
    out = bundle.path / SIGNATURE_FILE
    write_atomic(out, (json.dumps(doc, indent=2) + "\n").encode())
    return out


def verify(bundle: Bundle, public_key: str | os.PathLike[str] | bytes) -> str:
    """Checks the signature with ``public_key``; returns the key fingerprint.

    Checks the manifest bytes the Bundle was parsed from (not a fresh read of the folder).

    Raises:
        BundleError: unsigned, malformed signature, another key, or a changed manifest.
    """
    from edgekit.safeio import MAX_JSON_BYTES, read_regular

    path = bundle.path / SIGNATURE_FILE
    try:
        signature = read_regular(path, f"{SIGNATURE_FILE} of {bundle.path.name}", MAX_JSON_BYTES, BundleError)
    except FileNotFoundError as err:
        raise BundleError(f"bundle {bundle.path.name} is not signed, and a verify key was given") from err
    manifest = bundle.raw if bundle.raw is not None else (bundle.path / MANIFEST).read_bytes()
    return verify_bytes(manifest, signature, public_key, bundle.path.name)


def verify_bytes(manifest: bytes, signature_doc: bytes, public_key: str | os.PathLike[str] | bytes,
                 name: str) -> str:
    """Checks ``signature_doc`` (a signature.json's bytes) over exactly ``manifest``; returns the fingerprint.

    Raises:
        BundleError: malformed signature document, another key, or a changed manifest.
    """
    from cryptography.exceptions import InvalidSignature

    from edgekit.safeio import loads_json

    public = _load_public(public_key)
    try:
        doc = loads_json(signature_doc, f"{SIGNATURE_FILE} of bundle {name}", BundleError)
        signature = base64.b64decode(doc["signature"], validate=True)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise BundleError(f"bundle {name} has a malformed {SIGNATURE_FILE}") from err
    if doc.get("algorithm") != "ed25519":
        raise BundleError(f"bundle signature algorithm {str(doc.get('algorithm'))[:40]!r} is not ed25519")
    try:
        public.verify(signature, manifest)
    except InvalidSignature as err:
        raise BundleError(
            f"bundle {name}: signature does not verify with the given key "
            "(signed by another key, or the manifest changed after signing)"
        ) from err
    return _fingerprint(public)
