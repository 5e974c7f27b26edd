"""Key material: development keys, imported CA keys (PEM and PKCS#12), storage encryption."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from support.signing import HUB_CODE

from app.kit.secrets import SecretError
from app.sealing.keys import (
    KeyAlgorithm,
    KeyMaterialError,
    PassphraseRequired,
    SigningIdentity,
    certificate_fingerprint,
    encrypt_private_key,
    generate_development_identity,
    identity_from_storage,
    load_certificate_pem,
    load_pem_identity,
    load_pkcs12_identity,
)

MASTER = bytes(range(32))


def _ca_chain(
    *, key_usage_signing: bool = True
) -> tuple[rsa.RSAPrivateKey, x509.Certificate, x509.Certificate]:
    """A small CA and a leaf it issued (RSA-2048), as a real CA would hand out."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Liên Thông hub")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(2)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(
            x509.KeyUsage(
                digital_signature=key_usage_signing,
                content_commitment=False,
                key_encipherment=not key_usage_signing,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return leaf_key, leaf, ca


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: rsa.RSAPrivateKey, passphrase: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


@pytest.mark.parametrize(
    ("algorithm", "label"), [(KeyAlgorithm.ECDSA_P256, "ecdsa-p256"), (KeyAlgorithm.RSA_2048, "rsa-2048")]
)
def test_development_identity(algorithm: KeyAlgorithm, label: str) -> None:
    now = datetime(2026, 11, 27, tzinfo=UTC)
    identity = generate_development_identity(HUB_CODE, algorithm=algorithm, now=now)
    certificate = identity.certificate
    assert identity.algorithm == label
    assert (
        certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        == f"Liên Thông hub {HUB_CODE}"
    )
    assert certificate.issuer == certificate.subject
    assert certificate.not_valid_after_utc - now == timedelta(days=730)
    assert certificate.not_valid_before_utc <= now
    assert certificate.signature_hash_algorithm is not None
    assert certificate.signature_hash_algorithm.name == "sha256"
    assert certificate.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert identity.fingerprint == certificate.fingerprint(hashes.SHA256()).hex()
    assert len(identity.fingerprint) == 64


def test_pem_import_finds_the_leaf_whatever_the_order() -> None:
    key, leaf, ca = _ca_chain()
    identity = load_pem_identity(_key_pem(key), _pem(ca) + _pem(leaf))
    assert identity.certificate == leaf
    assert identity.chain == (ca,)
    separate = load_pem_identity(_key_pem(key), _pem(leaf), chain_pem=_pem(ca))
    assert separate.certificate == leaf
    assert separate.chain == (ca,)
    assert "BEGIN CERTIFICATE" in separate.chain_pem()


def test_encrypted_pem_key_needs_its_passphrase() -> None:
    key, leaf, _ = _ca_chain()
    encrypted = _key_pem(key, b"mat khau")
    with pytest.raises(PassphraseRequired):
        load_pem_identity(encrypted, _pem(leaf))
    with pytest.raises(KeyMaterialError, match="cannot be read"):
        load_pem_identity(encrypted, _pem(leaf), passphrase=b"wrong")
    assert load_pem_identity(encrypted, _pem(leaf), passphrase=b"mat khau").certificate == leaf


def test_pkcs12_import_with_passphrase() -> None:
    key, leaf, ca = _ca_chain()
    bundle = pkcs12.serialize_key_and_certificates(
        b"hub", key, leaf, [ca], serialization.BestAvailableEncryption(b"p12 pass")
    )
    identity = load_pkcs12_identity(bundle, b"p12 pass")
    assert identity.certificate == leaf
    assert identity.chain == (ca,)
    with pytest.raises(KeyMaterialError, match="PKCS#12"):
        load_pkcs12_identity(bundle, b"wrong")


def test_key_and_certificate_must_match() -> None:
    key, _, _ = _ca_chain()
    _, other_leaf, _ = _ca_chain()
    with pytest.raises(KeyMaterialError, match="belongs to the private key"):
        load_pem_identity(_key_pem(key), _pem(other_leaf))


def test_expired_or_non_signing_certificates_are_refused() -> None:
    key, leaf, _ = _ca_chain()
    with pytest.raises(KeyMaterialError, match="expired"):
        load_pem_identity(_key_pem(key), _pem(leaf), now=datetime.now(UTC) + timedelta(days=400))
    key, encipherment_only, _ = _ca_chain(key_usage_signing=False)
    with pytest.raises(KeyMaterialError, match="key usage"):
        load_pem_identity(_key_pem(key), _pem(encipherment_only))


def test_weak_rsa_keys_are_refused() -> None:
    identity = generate_development_identity(HUB_CODE, algorithm=KeyAlgorithm.RSA_2048)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(identity.certificate.subject)
        .issuer_name(identity.certificate.subject)
        .public_key(small.public_key())
        .serial_number(3)
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=1))
        .sign(small, hashes.SHA256())
    )
    with pytest.raises(KeyMaterialError, match="2048"):
        load_pem_identity(_key_pem(small), _pem(certificate))


def test_storage_round_trip_is_bound_to_the_certificate(
    ec_identity: SigningIdentity, rsa_identity: SigningIdentity
) -> None:
    blob = encrypt_private_key(MASTER, ec_identity)
    plain_der = ec_identity.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert plain_der not in blob
    loaded = identity_from_storage(
        MASTER, certificate_pem=ec_identity.certificate_pem(), chain_pem="", private_key_encrypted=blob
    )
    assert loaded.fingerprint == ec_identity.fingerprint
    assert loaded.private_key.private_numbers() == ec_identity.private_key.private_numbers()
    # The blob of one key stored next to another key's certificate does not decrypt.
    with pytest.raises(SecretError):
        identity_from_storage(
            MASTER, certificate_pem=rsa_identity.certificate_pem(), chain_pem="", private_key_encrypted=blob
        )
    with pytest.raises(SecretError):
        identity_from_storage(
            bytes(32), certificate_pem=ec_identity.certificate_pem(), chain_pem="", private_key_encrypted=blob
        )


def test_certificate_helpers(ec_identity: SigningIdentity) -> None:
    pem = ec_identity.certificate_pem()
    assert certificate_fingerprint(load_certificate_pem(pem)) == ec_identity.fingerprint
    with pytest.raises(KeyMaterialError, match="one PEM certificate"):
        load_certificate_pem(pem + pem)
    with pytest.raises(KeyMaterialError):
        load_certificate_pem("not a certificate")
