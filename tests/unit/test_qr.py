import base64
import io
import uuid

import pytest
import segno
import zxingcpp
from PIL import Image

from payments.qr import BORDER, MASK, SCALE, qr_png, qr_png_base64


def decode_qr(data: str) -> str:
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    assert image.format == "PNG"
    results = zxingcpp.read_barcodes(image)
    assert len(results) == 1
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode
    return results[0].text


def pixels(png: bytes) -> tuple[tuple[int, int], str, bytes]:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image.size, image.mode, image.tobytes()


def test_qr_decodes_back_to_the_ticket_code():
    code = "6e40a178-b56f-42e2-8264-77af31d21c3d"
    assert decode_qr(qr_png_base64(code)) == code


@pytest.mark.parametrize("seed", range(200))
def test_every_pass_decodes_and_is_the_image_segno_itself_writes(seed):
    code = str(uuid.UUID(int=seed * 7919 + 1, version=4))
    ours = qr_png(code)
    theirs = io.BytesIO()
    segno.make(code, error="m", micro=False, mask=MASK).save(theirs, kind="png", scale=SCALE, border=BORDER)
    assert pixels(ours) == pixels(theirs.getvalue())
    assert decode_qr(base64.b64encode(ours).decode()) == code
