"""The hub's key material, without I/O: generate a development key with a self-signed certificate,
load a key and certificate chain issued by a CA (PEM or PKCS#12), fingerprint certificates, and
encrypt private keys for storage.

A `SigningIdentity` holds the *loaded* private key object and certificate: loading and checking a key
costs far more than a signature, so it is done once per process, never per document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from app.kit.secrets import decrypt, encrypt

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

DEVELOPMENT_VALIDITY = timedelta(days=730)
MIN_RSA_BITS = 2048
SUPPORTED_CURVES = ("secp256r1", "secp384r1", "secp521r1")
_CURVE_LABELS = {"secp256r1": "p256", "secp384r1": "p384", "secp521r1": "p521"}


class KeyAlgorithm(StrEnum):
    """What `lienthong keys init|rotate` can generate."""

    ECDSA_P256 = "ecdsa-p256"
    RSA_2048 = "rsa-2048"


class KeyMaterialError(ValueError):
    """A key or certificate that cannot be read or must not be used, with the reason."""


class PassphraseRequired(KeyMaterialError):
    """The private key is encrypted and no passphrase was given."""


def certificate_fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER encoding, lowercase hex: how the hub names a certificate."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def certificate_subject(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string()


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def load_certificates_pem(data: bytes | str) -> list[x509.Certificate]:
    """Every certificate in a PEM text, in order; KeyMaterialError when there is none."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    try:
        certificates = x509.load_pem_x509_certificates(raw)
    except ValueError:
        raise KeyMaterialError("no readable PEM certificate found") from None
    return certificates


def load_certificate_pem(data: bytes | str) -> x509.Certificate:
    """Exactly one certificate from a PEM text."""
    certificates = load_certificates_pem(data)
    if len(certificates) != 1:
        raise KeyMaterialError(f"expected one PEM certificate, found {len(certificates)}")
    return certificates[0]


def key_algorithm_label(key: PrivateKey | rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    """A short name for a key, as stored in `SigningKey.algorithm`: `rsa-2048`, `ecdsa-p256`, …"""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"rsa-{key.key_size}"
    return f"ecdsa-{_CURVE_LABELS.get(key.curve.name, key.curve.name)}"


def check_public_key(certificate: x509.Certificate) -> None:
    """Refuse keys the hub does not sign or verify with: RSA below 2048 bits, curves other than the
    NIST P curves, and every other key type."""
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyMaterialError(f"RSA keys need at least {MIN_RSA_BITS} bits; this one has {key.key_size}")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in SUPPORTED_CURVES:
            raise KeyMaterialError(f"the elliptic curve {key.curve.name} is not supported")
    else:
        raise KeyMaterialError(f"{type(key).__name__} keys are not supported; use RSA or ECDSA")


def _same_public_key(certificate: x509.Certificate, key: PrivateKey) -> bool:
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return certificate.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)


def is_self_signed(certificate: x509.Certificate) -> bool:
    """Issued by its own subject: nobody but the holder vouches for it."""
    return certificate.issuer == certificate.subject


def is_valid_at(certificate: x509.Certificate, moment: datetime) -> bool:
    return certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc


@dataclass(frozen=True, slots=True)
class SigningIdentity:
    """A loaded private key, its certificate and the chain up to (not necessarily including) a root."""

    private_key: PrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def algorithm(self) -> str:
        return key_algorithm_label(self.private_key)

    @property
    def fingerprint(self) -> str:
        return certificate_fingerprint(self.certificate)

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    def certificate_pem(self) -> str:
        return certificate_pem(self.certificate)

    def chain_pem(self) -> str:
        return "".join(certificate_pem(c) for c in self.chain)


def check_signing_certificate(certificate: x509.Certificate) -> None:
    """Refuse a certificate whose key type the hub does not accept or whose key usage excludes
    signatures."""
    check_public_key(certificate)
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (usage.digital_signature or usage.content_commitment):
        raise KeyMaterialError("the certificate's key usage does not allow signatures")


def check_current(certificate: x509.Certificate, now: datetime) -> None:
    """Refuse a certificate that has expired or is not valid yet."""
    if now > certificate.not_valid_after_utc:
        raise KeyMaterialError(f"the certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d}")
    if now < certificate.not_valid_before_utc:
        raise KeyMaterialError(
            f"the certificate is not valid before {certificate.not_valid_before_utc:%Y-%m-%d}"
        )


def _check_identity(identity: SigningIdentity, *, now: datetime) -> SigningIdentity:
    check_signing_certificate(identity.certificate)
    if not _same_public_key(identity.certificate, identity.private_key):
        raise KeyMaterialError("the private key does not belong to the certificate")
    check_current(identity.certificate, now)
    return identity


def generate_development_identity(
    hub_code: str,
    *,
    algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256,
    now: datetime | None = None,
    validity: timedelta = DEVELOPMENT_VALIDITY,
) -> SigningIdentity:
    """A new key and a self-signed certificate `CN=Liên Thông hub <hub_code>` (for development: no
    receiver trusts it unless given the certificate)."""
    now = now or datetime.now(UTC)
    private_key: PrivateKey
    if algorithm is KeyAlgorithm.RSA_2048:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        private_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"Liên Thông hub {hub_code}"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Liên Thông"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        # A few minutes back: a receiver whose clock lags must not see a certificate from the future.
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(private_key.public_key()), critical=False)
        .sign(private_key, hashes.SHA256())
    )
    return SigningIdentity(private_key=private_key, certificate=certificate)


def _as_signing_key(key: object) -> PrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyMaterialError(f"{type(key).__name__} keys are not supported; use RSA or ECDSA")
    return key


def _split_chain(
    key: PrivateKey, certificates: Sequence[x509.Certificate]
) -> tuple[x509.Certificate, tuple[x509.Certificate, ...]]:
    """The certificate of `key` and the others, whatever order the files listed them in."""
    own = [c for c in certificates if _same_public_key(c, key)]
    if not own:
        raise KeyMaterialError("none of the certificates belongs to the private key")
    leaf = own[0]
    return leaf, tuple(c for c in certificates if c != leaf)


def load_pem_identity(
    key_pem: bytes,
    certificates_pem: bytes,
    *,
    chain_pem: bytes = b"",
    passphrase: bytes | None = None,
    now: datetime | None = None,
) -> SigningIdentity:
    """A CA-issued key from PEM files: the private key (encrypted or not), its certificate (the file
    may hold the whole chain) and optionally the chain in a file of its own."""
    key = _load_pem_private_key(key_pem, passphrase)
    certificates = load_certificates_pem(certificates_pem)
    if chain_pem.strip():
        certificates += load_certificates_pem(chain_pem)
    leaf, chain = _split_chain(key, certificates)
    identity = SigningIdentity(private_key=key, certificate=leaf, chain=chain)
    return _check_identity(identity, now=now or datetime.now(UTC))


def _load_pem_private_key(key_pem: bytes, passphrase: bytes | None) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(key_pem, password=passphrase)
    except TypeError as error:
        if passphrase is None:
            raise PassphraseRequired("the private key is encrypted: a passphrase is needed") from None
        raise KeyMaterialError(f"the private key cannot be read: {error}") from None
    except ValueError:
        raise KeyMaterialError("the private key cannot be read (wrong passphrase, or not PEM)") from None
    return _as_signing_key(key)


def load_pkcs12_identity(
    data: bytes, passphrase: bytes | None, *, now: datetime | None = None
) -> SigningIdentity:
    """A CA-issued key from a PKCS#12 (.p12/.pfx) file and its passphrase."""
    try:
        key, certificate, additional = pkcs12.load_key_and_certificates(data, passphrase)
    except ValueError:
        raise KeyMaterialError("the PKCS#12 file cannot be read (wrong passphrase, or not PKCS#12)") from None
    if key is None or certificate is None:
        raise KeyMaterialError("the PKCS#12 file must hold a private key and its certificate")
    signing_key = _as_signing_key(key)
    leaf, chain = _split_chain(signing_key, [certificate, *additional])
    identity = SigningIdentity(private_key=signing_key, certificate=leaf, chain=chain)
    return _check_identity(identity, now=now or datetime.now(UTC))


def _storage_purpose(fingerprint: str) -> str:
    # Binding the ciphertext to its certificate: a blob moved to another key's row does not decrypt.
    return f"signing-key:{fingerprint}"


def encrypt_private_key(master_key: bytes, identity: SigningIdentity) -> bytes:
    """The private key as unencrypted PKCS#8 DER, encrypted with the master key."""
    der = identity.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return encrypt(master_key, der, purpose=_storage_purpose(identity.fingerprint))


def identity_from_storage(
    master_key: bytes, *, certificate_pem: str, chain_pem: str, private_key_encrypted: bytes
) -> SigningIdentity:
    """Decrypt and load a stored key (once per process)."""
    certificate = load_certificate_pem(certificate_pem)
    chain = tuple(load_certificates_pem(chain_pem)) if chain_pem.strip() else ()
    purpose = _storage_purpose(certificate_fingerprint(certificate))
    der = decrypt(master_key, private_key_encrypted, purpose=purpose)
    key = _as_signing_key(serialization.load_der_private_key(der, password=None))
    if not _same_public_key(certificate, key):
        raise KeyMaterialError("the stored private key does not belong to its certificate")
    return SigningIdentity(private_key=key, certificate=certificate, chain=chain)
