"""`GET /certificates/{certificate_number}.pdf`: a certificate rendered as a PDF (fpdf2).

What it shows comes from `certificate.verify` — the same public SQL function, called as an
anonymous visitor — so the page can never show more than verification does. A revoked
certificate renders with a REVOKED banner; an unknown number is 404."""

from __future__ import annotations

import re

from aiohttp import web
from fpdf import FPDF

from rpc.core.protocol import RpcError
from rpc.db.calls import CallContext
from rpc.http.service import SERVICE
from rpc.http.views import client_address

NUMBER = re.compile(r"^LMS-[0-9A-Fa-f]{4}(-[0-9A-Fa-f]{4}){3}$")


def render(cert: dict) -> bytes:
    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_title(f"Certificate {cert['certificate_number']}")
    pdf.add_page()
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, 277, 190)
    pdf.set_font("Helvetica", "B", 30)
    pdf.set_y(35)
    pdf.cell(0, 16, "Certificate of Completion", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 15)
    pdf.cell(0, 18, "This certifies that", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 26)
    pdf.cell(0, 16, _latin1(cert["holder_name"]), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 15)
    pdf.cell(0, 16, "has completed the course", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 20)
    pdf.multi_cell(0, 12, _latin1(cert["course_title"]), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 12)
    pdf.set_y(160)
    pdf.cell(0, 8, f"Issued {str(cert['issued_at'])[:10]}", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 8, f"Certificate number {cert['certificate_number']} - verify with certificate.verify",
             align="C", new_x="LMARGIN", new_y="NEXT")
    if not cert["valid"]:
        pdf.set_text_color(200, 0, 0)
        pdf.set_font("Helvetica", "B", 40)
        pdf.set_y(128)
        pdf.cell(0, 20, "REVOKED", align="C")
    return bytes(pdf.output())


def _latin1(text: str) -> str:
    """The core PDF fonts cover Latin-1; anything else is replaced rather than failing."""
    return str(text).encode("latin-1", "replace").decode("latin-1")


async def certificate_pdf(request: web.Request) -> web.StreamResponse:
    number = request.match_info["number"]
    if not NUMBER.match(number):
        raise web.HTTPNotFound(text="no such certificate")
    try:
        service = request.app[SERVICE]
        context = CallContext(None, client_address(request, service.proxies))  # anonymous, like the public method
        cert = await service.invoke("certificate.verify", {"certificate_number": number}, context)
    except RpcError as exc:
        if exc.code == 404:
            raise web.HTTPNotFound(text="no such certificate") from None
        if exc.code == 429:
            retry = str((exc.data or {}).get("retry_after", 1))
            raise web.HTTPTooManyRequests(text=exc.message, headers={"Retry-After": retry}) from None
        raise web.HTTPServiceUnavailable(text=exc.message) from None
    body = render(cert)
    return web.Response(body=body, content_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{cert["certificate_number"]}.pdf"',
                                 "Cache-Control": "no-store"})
