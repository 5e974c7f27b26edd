"""Status messages' own signatures are held to the reporter's policy exactly as documents' are: a
valid signature by a registered certificate is accepted and recorded, an invalid one always refused,
an unsigned one refused when the reporter's policy requires a signature."""

from __future__ import annotations

import pytest
from support.hub import RECIPIENT, Hub
from support.signing import signxml_sign
from test_statuses import post_status, sent, status

from app.models import SignaturePolicy
from app.sealing.keys import KeyAlgorithm, SigningIdentity, generate_development_identity
from app.sealing.service import register_agency_certificate, set_signature_policy


@pytest.fixture(scope="module")
def recipient_key() -> SigningIdentity:
    return generate_development_identity(RECIPIENT, algorithm=KeyAlgorithm.ECDSA_P256)


async def _register(hub: Hub, identity: SigningIdentity) -> None:
    async with hub.database.transaction() as session:
        await register_agency_certificate(
            session, agency_code=RECIPIENT, pem=identity.certificate_pem(), actor="test"
        )


async def _require_signatures(hub: Hub) -> None:
    async with hub.database.transaction() as session:
        await set_signature_policy(
            session, agency_code=RECIPIENT, policy=SignaturePolicy.REQUIRED, actor="test"
        )


async def test_a_required_signature_refuses_an_unsigned_status(hub: Hub) -> None:
    document, receipt = await sent(hub)
    await _require_signatures(hub)

    response = await post_status(hub, status(document, receipt, reporter=RECIPIENT, code="01"), RECIPIENT)

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["code"] == "signature-required"
    assert await hub.scalar("SELECT count(*) FROM documents WHERE kind = 'status'") == 0


async def test_a_valid_signature_by_a_registered_key_is_accepted_and_recorded(
    hub: Hub, recipient_key: SigningIdentity
) -> None:
    document, receipt = await sent(hub)
    await _register(hub, recipient_key)
    await _require_signatures(hub)
    signed = signxml_sign(status(document, receipt, reporter=RECIPIENT, code="03"), recipient_key)

    response = await post_status(hub, signed, RECIPIENT)

    assert response.status_code == 202, response.text
    stored = await hub.scalar(
        "SELECT sender_signature FROM documents WHERE id = :id", id=response.json()["id"]
    )
    assert stored == "xmldsig"


@pytest.mark.parametrize("registered", [False, True], ids=["unregistered key", "altered after signing"])
async def test_an_invalid_signature_is_refused_whatever_the_policy(
    hub: Hub, recipient_key: SigningIdentity, registered: bool
) -> None:
    document, receipt = await sent(hub)
    signed = signxml_sign(status(document, receipt, reporter=RECIPIENT, code="03"), recipient_key)
    if registered:
        await _register(hub, recipient_key)
        signed = signed.replace("trạng thái 03".encode(), "trạng thái 06".encode())

    response = await post_status(hub, signed, RECIPIENT)

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["code"] == "signature-invalid"
    assert await hub.scalar("SELECT count(*) FROM documents WHERE kind = 'status'") == 0
