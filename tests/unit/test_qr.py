import base64
import io

import zxingcpp
from PIL import Image

from payments.qr import qr_png_base64


def decode_qr(data: str) -> str:
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    assert image.format == "PNG"
    results = zxingcpp.read_barcodes(image)
    assert len(results) == 1
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode
    return results[0].text


def test_qr_decodes_back_to_the_ticket_code():
    code = "6e40a178-b56f-42e2-8264-77af31d21c3d"
    assert decode_qr(qr_png_base64(code)) == code
