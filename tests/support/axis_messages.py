"""Messages the national-axis tests exchange: fresh documents between the province and Văn phòng
Chính phủ, and status messages about them."""

from __future__ import annotations

from datetime import date
from itertools import count

from app.edxml import DocumentSpec, Organ, StatusSpec, build_status

_numbers = count(4100)
STATUS_TIMESTAMP = "2026/11/21 09:15:00"


def axis_document(sender: str, *recipients: str) -> DocumentSpec:
    """A new document (a fresh number, so a fresh DocumentId)."""
    return DocumentSpec(
        sender=Organ(sender),
        recipients=list(recipients),
        code_number=str(next(_numbers)),
        code_notation="VPCP-KSTT",
        subject="V/v thực hiện liên thông văn bản điện tử",
        promulgation_date=date(2026, 11, 20),
        attachments=[("Công văn.pdf", "application/pdf", b"%PDF-1.4 axis")],
    )


def status_about(document: DocumentSpec, document_id: str, *, reporter: str, code: str = "03") -> bytes:
    """`reporter`'s status message about `document` (whose DocumentId the hub's receipt gave)."""
    sender = document.sender.organ_id if isinstance(document.sender, Organ) else document.sender
    return build_status(
        StatusSpec(
            reporter=reporter,
            original_sender_id=sender,
            original_code=f"{document.code_number}/{document.code_notation}",
            original_document_id=document_id,
            status_code=code,
            timestamp=STATUS_TIMESTAMP,
            description=f"{reporter}: trạng thái {code}",
        )
    )
