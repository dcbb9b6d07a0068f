"""PayPal webhook signatures verified offline, with the local PayPal's real chain (root, issuing CA,
leaf): genuine deliveries pass; forged, tampered, foreign, stale and mis-addressed ones are refused;
the chains an attacker can obtain fail path validation; certificate addresses that any reader could
take elsewhere are refused before anything is fetched; the download follows no redirect."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from urllib3.util import parse_url
from werkzeug.wrappers import Request, Response

from local.paypal_fake import PayPalFake
from local.paypal_fake.notifications import CERT_PATH
from payments.domain.ports import SignatureRefused
from payments.providers import paypal_signature
from payments.providers.paypal_signature import CertificateAddress, PayPalSignatureVerifier, certificate_address
from tests.support import paypal_attacks as attacks
from tests.support.servers import serve

WEBHOOK_ID = "8PT597110X687430LKGECATA"
BASE = "http://127.0.0.1:12112"
PAYPAL_HOSTS = {"api.paypal.com", "api-m.paypal.com", "api.sandbox.paypal.com", "api-m.sandbox.paypal.com"}
ALLOWED = {("https", host, None) for host in PAYPAL_HOSTS} | {("http", "127.0.0.1", 12112)}


@pytest.fixture(scope="module")
def fake() -> PayPalFake:
    return PayPalFake(public_url=BASE, webhook_id=WEBHOOK_ID)


def verifier_for(fake, *, fetched=None, clock=time.time, base=BASE, roots=None):
    fetches: list[CertificateAddress] = []

    def fetch(address):
        fetches.append(address)
        return fetched if fetched is not None else fake.signer.chain_pem

    verifier = PayPalSignatureVerifier(base, (roots or fake.certificate_roots_pem).encode(), fetch, clock)
    return verifier, fetches


def delivery(fake, body=b'{"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED"}'):
    headers = {name.lower(): value for name, value in fake.sign(body, json.loads(body)).items()}
    return headers, body


def at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# genuine and tampered deliveries ------------------------------------------------------------------
def test_a_genuine_delivery_passes_and_the_certificate_is_fetched_once_from_the_parsed_address(fake):
    verifier, fetches = verifier_for(fake)
    for _ in range(3):
        headers, body = delivery(fake)
        verifier.verify(headers, body, WEBHOOK_ID)
    assert fetches == [CertificateAddress("http", "127.0.0.1", 12112, CERT_PATH)]


def test_the_bytes_as_received_are_what_is_checked(fake):
    verifier, _ = verifier_for(fake)
    headers, body = delivery(fake, b'{"id":"WH-2",  "event_type":"X"}')  # spacing a re-serialisation would change
    verifier.verify(headers, body, WEBHOOK_ID)
    with pytest.raises(SignatureRefused, match="does not match"):
        verifier.verify(headers, json.dumps(json.loads(body)).encode(), WEBHOOK_ID)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda h, b: (h, b.replace(b"WH-1", b"WH-9")), "does not match"),
        (lambda h, b: ({**h, "paypal-transmission-id": "other"}, b), "does not match"),
        (lambda h, b: ({**h, "paypal-transmission-id": "x" * 129}, b), "too long"),
        (lambda h, b: ({**h, "paypal-transmission-sig": base64.b64encode(b"forged" * 40).decode()}, b), "does not match"),
        (lambda h, b: ({**h, "paypal-transmission-sig": "not base64!"}, b), "not base64"),
        (lambda h, b: ({**h, "paypal-auth-algo": "SHA1withRSA"}, b), "algorithm"),
        (lambda h, b: ({**h, "paypal-cert-url": "https://evil.example/cert.pem"}, b), "not PayPal's"),
        (lambda h, b: ({**h, "paypal-transmission-time": "2020-01-01T00:00:00Z"}, b), "tolerance"),
        (lambda h, b: ({**h, "paypal-transmission-time": "yesterday"}, b), "timestamp"),
        (lambda h, b: ({**h, "paypal-transmission-time": at(datetime.now(UTC)).rstrip("Z")}, b), "timestamp"),  # no offset
        (lambda h, b: ({**h, "paypal-transmission-time": "9999-12-31T23:59:59-23:59"}, b), "tolerance"),
    ],
)
def test_forged_tampered_and_stale_deliveries_are_refused(fake, tamper, reason):
    verifier, _ = verifier_for(fake)
    headers, body = tamper(*delivery(fake))
    with pytest.raises(SignatureRefused, match=reason):
        verifier.verify(headers, body, WEBHOOK_ID)


def test_a_delivery_for_another_webhook_is_refused(fake):
    verifier, _ = verifier_for(fake)
    headers, body = delivery(fake)
    with pytest.raises(SignatureRefused, match="does not match"):
        verifier.verify(headers, body, "ANOTHER-WEBHOOK")


# the certificate path: cryptography's X.509 verifier ---------------------------------------------
def forged_delivery(forged, body=b'{"id": "WH-F", "event_type": "PAYMENT.CAPTURE.COMPLETED"}', url=f"{BASE}{CERT_PATH}"):
    return attacks.signed_headers(forged, body, WEBHOOK_ID, url), body


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        (attacks.leaf_issued_by_a_leaf, "basicConstraints.cA must be asserted in a CA certificate"),
        (attacks.leaf_issued_by_a_ca_without_key_cert_sign, "keyUsage.keyCertSign must be asserted in a CA certificate"),
        (lambda signer: attacks.leaf_for_another_name(signer, "attacker.example"), "no matching subjectAltName"),
        (lambda signer: attacks.leaf_for_another_name(signer, "*.paypal.com"), "not issued to PayPal's signing name exactly"),
        (lambda signer: attacks.leaf_for_another_name(signer, "www.paypal.com"), "no matching subjectAltName"),
        (lambda signer: attacks.leaf_for_another_name(signer, "messageverificationcerts.paypal.com.evil.example"), "no matching"),
        (attacks.leaf_for_another_name, "missing required extension"),  # the name in the common name only
        (attacks.leaf_not_for_signatures, "leaf key usage is not digitalSignature"),
        (lambda signer: attacks.leaf_valid_between(signer, *attacks.expired()), "not valid at validation time"),
        (lambda signer: attacks.leaf_valid_between(signer, *attacks.not_yet_valid()), "not valid at validation time"),
        (lambda signer: attacks.self_signed_in_paypals_name(), "validation failed"),
    ],
    ids=[
        "issuer-is-not-a-ca",
        "issuer-without-keyCertSign",
        "leaf-for-another-domain",
        "leaf-for-a-wildcard",
        "leaf-for-another-paypal-host",
        "leaf-for-a-name-with-paypals-as-prefix",
        "leaf-with-the-name-in-its-common-name-only",
        "leaf-without-digitalSignature",
        "leaf-expired",
        "leaf-not-yet-valid",
        "self-signed",
    ],
)
def test_a_chain_an_attacker_can_obtain_is_refused(fake, forge, reason):
    forged = forge(fake.signer)
    verifier, _ = verifier_for(fake, fetched=forged.chain_pem)
    headers, body = forged_delivery(forged)
    with pytest.raises(SignatureRefused, match="certificate path does not validate") as refused:
        verifier.verify(headers, body, WEBHOOK_ID)
    assert reason in str(refused.value)


def test_a_chain_to_another_root_is_refused(fake):
    stranger = PayPalFake(public_url=fake.public_url, webhook_id=WEBHOOK_ID)  # same names, its own root
    verifier, _ = verifier_for(fake, fetched=stranger.signer.chain_pem)
    headers, body = delivery(stranger)
    with pytest.raises(SignatureRefused, match="certificate path does not validate"):
        verifier.verify(headers, body, WEBHOOK_ID)


def test_the_root_itself_is_not_a_signing_certificate(fake):
    verifier, _ = verifier_for(fake, fetched=fake.certificate_roots_pem.encode())
    headers, body = delivery(fake)
    with pytest.raises(SignatureRefused, match="certificate path does not validate"):
        verifier.verify(headers, body, WEBHOOK_ID)


def test_dates_are_checked_at_each_delivery_so_a_cached_certificate_expires_in_a_warm_container(fake):
    now = [time.time()]
    verifier, fetches = verifier_for(fake, clock=lambda: now[0])
    headers, body = delivery(fake)
    verifier.verify(headers, body, WEBHOOK_ID)
    now[0] += 2 * 365 * 86400  # the container lives on; the certificate (valid a year) does not
    headers, body = delivery(fake)
    headers["paypal-transmission-time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now[0]))
    with pytest.raises(SignatureRefused, match="not valid at validation time"):
        verifier.verify(headers, body, WEBHOOK_ID)
    assert len(fetches) == 1


def test_a_certificate_not_yet_valid_when_fetched_passes_once_its_time_comes(fake):
    starts = datetime.now(UTC) + timedelta(hours=1)
    forged_time = attacks.leaf_valid_between(fake.signer, starts, starts + timedelta(days=30))
    now = [time.time()]
    verifier, fetches = verifier_for(fake, fetched=forged_time.chain_pem, clock=lambda: now[0])
    headers, body = forged_delivery(forged_time)
    with pytest.raises(SignatureRefused, match="not valid at validation time"):
        verifier.verify(headers, body, WEBHOOK_ID)
    now[0] += 2 * 3600
    headers = attacks.signed_headers(forged_time, body, WEBHOOK_ID, f"{BASE}{CERT_PATH}", when=at(datetime.fromtimestamp(now[0], UTC)))
    verifier.verify(headers, body, WEBHOOK_ID)
    assert len(fetches) == 1


def test_the_sandbox_signing_name_is_accepted_only_in_a_sandbox_configuration(fake):
    sandbox_name = "messageverificationcerts.sandbox.paypal.com"
    forged = attacks.leaf_for_another_name(fake.signer, sandbox_name)
    url = "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77"
    headers, body = forged_delivery(forged, url=url)
    sandbox, _ = verifier_for(fake, fetched=forged.chain_pem, base="https://api-m.sandbox.paypal.com")
    sandbox.verify(headers, body, WEBHOOK_ID)
    live, _ = verifier_for(fake, fetched=forged.chain_pem, base="https://api-m.paypal.com")
    with pytest.raises(SignatureRefused, match="no matching subjectAltName"):
        live.verify(headers, body, WEBHOOK_ID)


# the certificate address ------------------------------------------------------------------------------
GOOD_PATH = "/v1/notifications/certs/CERT-360caa42-fca2a594-df8cd2d5"


@pytest.mark.parametrize(
    "url",
    [
        f"https://api.paypal.com{GOOD_PATH}",
        f"https://api-m.paypal.com{GOOD_PATH}",
        f"https://api.sandbox.paypal.com{GOOD_PATH}",
        f"https://api-m.sandbox.paypal.com{GOOD_PATH}",
        f"{BASE}{CERT_PATH}",
    ],
)
def test_paypals_certificate_hosts_and_the_configured_paypal_are_accepted(url):
    address = certificate_address(url, BASE)
    assert str(address) == url
    assert (address.scheme, address.host, address.port) in ALLOWED


@pytest.mark.parametrize(
    "url",
    [
        # two readers, two hosts: urllib.parse reads api.paypal.com, urllib3 (and requests) evil.example
        f"https://evil.example\\@api.paypal.com{GOOD_PATH}",
        f"https://api.paypal.com\\@evil.example{GOOD_PATH}",
        f"https://evil.example:443\\@api.paypal.com{GOOD_PATH}",
        # user info and @
        f"https://user@api.paypal.com{GOOD_PATH}",
        f"https://user:pass@api.paypal.com{GOOD_PATH}",
        f"https://api.paypal.com@evil.example{GOOD_PATH}",
        f"https://api.paypal.com%40evil.example{GOOD_PATH}",
        f"https://api.paypal.com#@evil.example{GOOD_PATH}",
        f"https://api.paypal.com?@evil.example{GOOD_PATH}",
        # ports
        f"https://api.paypal.com:443{GOOD_PATH}",
        f"https://api.paypal.com:8443{GOOD_PATH}",
        f"https://api.paypal.com:0{GOOD_PATH}",
        "http://127.0.0.1:12113" + CERT_PATH,
        "http://127.0.0.1" + CERT_PATH,
        # percent-encoding, IDN, case, a trailing dot
        f"https://api%2epaypal.com{GOOD_PATH}",
        f"https://%61pi.paypal.com{GOOD_PATH}",
        "https://\u0430pi.paypal.com" + GOOD_PATH,  # a Cyrillic a
        f"https://xn--pi-6kc.paypal.com{GOOD_PATH}",
        f"https://api.paypaI.com{GOOD_PATH}",
        f"https://API.PAYPAL.COM{GOOD_PATH}",
        f"https://Api.PayPal.com{GOOD_PATH}",
        f"HTTPS://api.paypal.com{GOOD_PATH}",
        f"https://api.paypal.com.{GOOD_PATH}",
        # not a certificate host or not https
        f"http://api.paypal.com{GOOD_PATH}",
        f"https://www.paypal.com{GOOD_PATH}",
        f"https://paypal.com{GOOD_PATH}",
        f"https://evil.paypal.com{GOOD_PATH}",
        f"https://api.paypal.com.evil.example{GOOD_PATH}",
        f"https://evilpaypal.com{GOOD_PATH}",
        f"https://localhost:12112{CERT_PATH}",
        f"https://127.0.0.1:12112{CERT_PATH}",
        f"ftp://api.paypal.com{GOOD_PATH}",
        f"//api.paypal.com{GOOD_PATH}",
        f"https:api.paypal.com{GOOD_PATH}",
        # the path: PayPal's certificate path only, one plain segment
        "https://api.paypal.com/v1/oauth2/token",
        "https://api.paypal.com/v1/notifications/certs/",
        "https://api.paypal.com/v1/notifications/certs/../../oauth2/token",
        "https://api.paypal.com/v1/notifications/certs/%2e%2e/%2e%2e/oauth2/token",
        "https://api.paypal.com/v1/notifications/certs/CERT-1/..",
        "https://api.paypal.com/v1/notifications/certs/.hidden",
        "https://api.paypal.com/v1/notifications/certs/CERT-1/more",
        "https://api.paypal.com/v1/notifications/certs/CERT%2D1",
        "https://api.paypal.com/v1/notifications/certs/CERT-1?x=1",
        "https://api.paypal.com/v1/notifications/certs/CERT-1#x",
        "https://api.paypal.com/v1/notifications/certs\\CERT-1",
        "https://api.paypal.com//v1/notifications/certs/CERT-1",
        f"https://api.paypal.com{GOOD_PATH}\r\nX-Injected: 1",
        f"https://api.paypal.com{GOOD_PATH} ",
        f" https://api.paypal.com{GOOD_PATH}",
        "",
    ],
)
def test_a_certificate_address_any_reader_could_take_elsewhere_is_refused_and_never_fetched(fake, url):
    with pytest.raises(SignatureRefused, match=r"not PayPal's|not a URL"):
        certificate_address(url, BASE)
    verifier, fetches = verifier_for(fake)
    headers, body = delivery(fake)
    with pytest.raises(SignatureRefused):
        verifier.verify({**headers, "paypal-cert-url": url}, body, WEBHOOK_ID)
    assert fetches == []


def test_the_configured_paypal_is_allowed_as_its_origin_and_path_prefix_only():
    base = "http://127.0.0.1:12112/paypal"
    assert str(certificate_address(f"{base}{CERT_PATH}", base)) == f"{base}{CERT_PATH}"
    for url in (f"http://127.0.0.1:12112{CERT_PATH}", f"{base}/other{CERT_PATH}", f"http://127.0.0.1:12112/paypalx{CERT_PATH}"):
        with pytest.raises(SignatureRefused):
            certificate_address(url, base)


URL_PARTS = {
    "scheme": st.sampled_from(["https", "http", "HTTPS", "Https", "ftp", ""]),
    "userinfo": st.sampled_from(["", "user@", "user:pw@", "evil.example\\@", "api.paypal.com@", "@", "%40"]),
    "host": st.sampled_from(
        [
            *PAYPAL_HOSTS,
            "API.PAYPAL.COM",
            "api.paypal.com.",
            "api%2epaypal.com",
            "\u0430pi.paypal.com",
            "xn--pi-6kc.paypal.com",
            "evil.example",
            "169.254.169.254",
            "127.0.0.1",
            "localhost",
            "[::1]",
            "api.paypal.com.evil.example",
            "www.paypal.com",
        ]
    ),
    "port": st.sampled_from(["", ":443", ":12112", ":8443", ":0", ":", ":65536", ":1e3"]),
    "separator": st.sampled_from(["/", "\\", "\\@evil.example/", "@evil.example/", "#@evil.example/", "?", "//", "/%2e%2e/"]),
    "path": st.sampled_from(["v1/notifications/certs/CERT-1", "v1/oauth2/token", "v1/notifications/certs/../x", ""]),
    "tail": st.sampled_from(["", "?q=1", "#f", " ", "\t", "\r\n", "/"]),
}


def allowed_host_as_urllib3_reads_it(url: str) -> bool:
    try:
        parsed = parse_url(url)
    except ValueError:
        return False
    return (parsed.scheme, parsed.host, parsed.port) in ALLOWED


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.builds("{scheme}://{userinfo}{host}{port}{separator}{path}{tail}".format, **URL_PARTS), st.text(max_size=80)))
@example(f"https://api.paypal.com{GOOD_PATH}")  # accepted: fetched from exactly what urllib3 reads
@example(f"{BASE}{CERT_PATH}")
@example(f"https://evil.example\\@api.paypal.com{GOOD_PATH}")  # issue 25's address
def test_any_address_whose_host_urllib3_reads_as_not_allowed_is_refused_and_never_fetched(fake, url):
    verifier, fetches = verifier_for(fake)
    headers, body = delivery(fake)
    with contextlib.suppress(SignatureRefused):
        verifier.verify({**headers, "paypal-cert-url": url}, body, WEBHOOK_ID)
    if not allowed_host_as_urllib3_reads_it(url):
        assert fetches == []
    for address in fetches:  # what was fetched is what urllib3 reads, and the text is exactly it
        assert (address.scheme, address.host, address.port) in ALLOWED
        assert str(address) == url
        assert (parse_url(url).scheme, parse_url(url).host, parse_url(url).port) == (address.scheme, address.host, address.port)


HEADER_NAMES = ("paypal-transmission-id", "paypal-transmission-time", "paypal-transmission-sig", "paypal-cert-url", "paypal-auth-algo")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.sampled_from(HEADER_NAMES),
        st.one_of(
            st.text(max_size=60),
            st.sampled_from(["SHA256withRSA", f"{BASE}{CERT_PATH}", "Zm9yZ2Vk", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+23:59"]),
        ),
    ),
    st.binary(max_size=64),
)
def test_any_headers_are_refused_with_signature_refused_only_and_never_fetch_elsewhere(fake, overrides, body):
    verifier, fetches = verifier_for(fake)
    headers, _ = delivery(fake)
    with pytest.raises(SignatureRefused):
        verifier.verify({**headers, **overrides}, body, WEBHOOK_ID)
    assert all((address.scheme, address.host, address.port) in ALLOWED for address in fetches)


# the download itself --------------------------------------------------------------------------------
class CertificateServer:
    """A local server answering the certificate path as told, and recording what it was asked."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.paths: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.paths.append(request.path)
        return self.answer(request)(environ, start_response)


def downloaded(answer):
    server = CertificateServer(answer)
    with serve(server) as base:
        address = certificate_address(f"{base}{CERT_PATH}", base)
        try:
            return paypal_signature.download(address), server.paths
        except SignatureRefused as refused:
            return refused, server.paths


def test_the_download_reads_the_certificate_at_the_address(fake):
    content, paths = downloaded(lambda request: Response(fake.signer.chain_pem, mimetype="application/x-pem-file"))
    assert (content, paths) == (fake.signer.chain_pem, [CERT_PATH])


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed(fake, status):
    def answer(request):
        if request.path == CERT_PATH:
            return Response(status=status, headers={"Location": "/elsewhere"})
        return Response(fake.signer.chain_pem)

    refused, paths = downloaded(answer)
    assert isinstance(refused, SignatureRefused) and str(status) in str(refused)
    assert paths == [CERT_PATH]


@pytest.mark.parametrize("status", [404, 500])
def test_an_answer_other_than_200_is_refused(status):
    refused, _ = downloaded(lambda request: Response("no", status=status))
    assert isinstance(refused, SignatureRefused)


def test_a_certificate_file_beyond_the_bound_is_refused():
    refused, _ = downloaded(lambda request: Response(b"-" * (paypal_signature.MAX_CERTIFICATE_BYTES + 1)))
    assert isinstance(refused, SignatureRefused) and "too large" in str(refused)


def test_a_slow_certificate_server_is_given_up_on(monkeypatch):
    monkeypatch.setattr(paypal_signature, "READ_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(paypal_signature, "TOTAL_TIMEOUT_SECONDS", 0.3)

    def slow(request):
        time.sleep(3.0)
        return Response("late")

    # Given up on at 0.3 s, long before the answer: the 1.7 s between the bound and the answer are
    # room for a busy machine, not a limit the code is held to.
    started = time.monotonic()
    refused, _ = downloaded(slow)
    assert isinstance(refused, SignatureRefused)
    assert time.monotonic() - started < 2.0


def test_a_refused_download_is_a_refused_delivery_and_is_not_cached(fake):
    calls = []

    def fetch(address):
        calls.append(address)
        if len(calls) == 1:
            raise SignatureRefused("certificate download answered 503")
        return fake.signer.chain_pem

    verifier = PayPalSignatureVerifier(BASE, fake.certificate_roots_pem.encode(), fetch)
    headers, body = delivery(fake)
    with pytest.raises(SignatureRefused, match="503"):
        verifier.verify(headers, body, WEBHOOK_ID)
    verifier.verify(headers, body, WEBHOOK_ID)
    assert len(calls) == 2


# the trusted roots -------------------------------------------------------------------------------------
def test_an_unreadable_root_in_the_bundle_leaves_the_others_trusted(fake):
    broken = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    verifier = PayPalSignatureVerifier(BASE, broken + fake.certificate_roots_pem.encode(), lambda address: fake.signer.chain_pem)
    verifier.verify(*delivery(fake), WEBHOOK_ID)


def test_no_trusted_root_is_a_configuration_error_not_a_forged_delivery(fake):
    verifier = PayPalSignatureVerifier(BASE, b"no certificates here", lambda address: fake.signer.chain_pem)
    with pytest.raises(ValueError, match="empty store"):  # a 5xx: PayPal retries once the configuration is fixed
        verifier.verify(*delivery(fake), WEBHOOK_ID)


def test_the_public_bundle_is_read_without_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(paypal_signature._roots(paypal_signature._system_roots())) > 100


def test_the_https_download_checks_the_servers_certificate(fake, tmp_path, monkeypatch):
    import ssl
    import threading

    import certifi
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from werkzeug.serving import make_server

    from local.paypal_fake.notifications import issue_certificate, pem

    # Given a certificate server over TLS whose certificate the fake's intermediate issued for 127.0.0.1
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = (fake.signer.intermediate, fake.signer.intermediate_key)
    certificate = issue_certificate("127.0.0.1", key, issuer, ca=False, ip_addresses=("127.0.0.1",))
    (tmp_path / "server.pem").write_bytes(pem(certificate, fake.signer.intermediate))
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "server.key").write_bytes(private)
    (tmp_path / "roots.pem").write_bytes(fake.certificate_roots_pem.encode())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    server = make_server("127.0.0.1", 0, Response(fake.signer.chain_pem), threaded=True, ssl_context=context)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"https://127.0.0.1:{server.server_port}"
        address = certificate_address(f"{base}{CERT_PATH}", base)
        # When the download trusts the public roots only, then the server is refused
        with pytest.raises(SignatureRefused, match="could not be fetched"):
            paypal_signature.download(address)
        # When it trusts the server's root, then the file is read
        monkeypatch.setattr(certifi, "where", lambda: str(tmp_path / "roots.pem"))
        assert paypal_signature.download(address) == fake.signer.chain_pem
    finally:
        server.shutdown()
