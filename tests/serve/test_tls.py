"""HTTPS: `fairtune serve --ssl-certfile/--ssl-keyfile`, on a self-signed certificate made in the test."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import httpx
import pytest
import yaml

from fairtune.cli import main
from fairtune.errors import FairtuneError
from fairtune.serve._tls import tls_options
from fairtune.testing import tiny_run_config
from tests.serve.test_serve import Server, make_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("tls")
    (root / "cfg.yaml").write_text(yaml.safe_dump(tiny_run_config(root, tiny_model_dir)))
    assert main(["train", str(root / "cfg.yaml"), "--no-progress"]) == 0
    return root / "runs" / "tiny"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost and its key, PEM, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def test_https_answers_with_the_certificate_and_plain_http_gets_nothing(
    trained: Path, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    with Server(make_app(trained), **tls_options(str(cert), str(key))) as srv:
        url = srv.url.replace("http://", "https://")
        trusted = ssl.create_default_context(cafile=str(cert))
        r = httpx.post(url + "/v1/predict", json={"texts": ["a good film"]}, verify=trusted, timeout=30)
        assert r.status_code == 200 and r.json()["predictions"][0]["label"] in ("positive", "negative")
        with pytest.raises(httpx.ConnectError):  # a client that does not trust the certificate
            httpx.get(url + "/healthz", timeout=10)
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port
            httpx.get(srv.url + "/healthz", timeout=10)


def test_bad_certificate_files_are_refused_before_anything_loads(trained: Path, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    (tmp_path / "other").mkdir()
    other_cert, _ = self_signed(tmp_path / "other")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(FairtuneError, match="pass --ssl-keyfile too"):
        tls_options(str(cert), None)
    with pytest.raises(FairtuneError, match="--ssl-keyfile: file not found"):
        tls_options(str(cert), str(tmp_path / "nope.pem"))
    with pytest.raises(FairtuneError, match="do not load as a PEM certificate chain"):
        tls_options(str(garbage), str(key))
    with pytest.raises(FairtuneError, match="do not load"):
        tls_options(str(other_cert), str(key))  # a certificate with another pair's key
    argv = ["serve", str(trained), "--ssl-certfile", str(garbage), "--ssl-keyfile", str(key), "--port", "1"]
    assert main(argv) == 2
