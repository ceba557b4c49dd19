"""The robot's HTTPS certificate: made with `cryptography` for its names, read back with its
fingerprint; broken, mismatched or expired ones are clear errors; `bidvis run` and `bidvis ui`
serve the network only over HTTPS with it, and listen on loopback by default."""

from __future__ import annotations

import ipaddress
import stat

import pytest
from cryptography import x509
from typer.testing import CliRunner

from bidvis.cli import app
from bidvis.robot_ui.certificate import (
    CERTIFICATE_FILE,
    KEY_FILE,
    CertificateError,
    load_certificate,
    make_certificate,
)
from bidvis.run import is_loopback, site_for


def test_a_certificate_names_the_robot_and_its_key_is_private(tmp_path):
    made = make_certificate(tmp_path, ["Robot.Local", "192.168.1.20"])
    assert made.names == ("robot.local", "192.168.1.20") and len(made.fingerprint.split(":")) == 32
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    certificate = x509.load_pem_x509_certificate((tmp_path / CERTIFICATE_FILE).read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.168.1.20")]
    assert load_certificate(tmp_path) == made


def test_no_certificate_is_none_and_broken_ones_are_clear_errors(tmp_path):
    assert load_certificate(tmp_path) is None
    make_certificate(tmp_path, ["robot.local"])
    (tmp_path / KEY_FILE).write_text("not a key")
    with pytest.raises(CertificateError, match="unreadable"):
        load_certificate(tmp_path)
    other = tmp_path / "other"
    make_certificate(other, ["robot.local"])
    (tmp_path / KEY_FILE).write_bytes((other / KEY_FILE).read_bytes())
    make_certificate(other, ["robot.local"])  # a new key for the other one
    (tmp_path / KEY_FILE).write_bytes((other / KEY_FILE).read_bytes())
    with pytest.raises(CertificateError, match="not the key"):
        load_certificate(tmp_path)
    expired = tmp_path / "expired"
    make_certificate(expired, ["robot.local"], days=0)  # valid until now
    with pytest.raises(CertificateError, match="expired"):
        load_certificate(expired)


@pytest.mark.parametrize("names", [[], [""], ["bad name"], ["robot.local\u0000"], ["-robot"], ["x" * 64 + ".local"]])
def test_a_certificate_needs_a_usable_name(tmp_path, names):
    with pytest.raises((CertificateError, ValueError)):
        make_certificate(tmp_path, names)


def test_loopback_is_plain_http_and_the_network_needs_the_certificate(tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and not is_loopback("0.0.0.0")
    site, certificate = site_for("127.0.0.1", tmp_path, load_certificate)
    assert certificate is None and not site.https and "localhost" in site.hosts
    with pytest.raises(ValueError, match="make-certificate"):
        site_for("0.0.0.0", tmp_path, load_certificate)
    made = make_certificate(tmp_path, ["robot.local"])
    site, certificate = site_for("0.0.0.0", tmp_path, load_certificate)
    assert certificate == made and site.https and "robot.local" in site.hosts and site.fingerprint == made.fingerprint


def test_make_certificate_command_prints_the_fingerprint(tmp_path):
    result = CliRunner().invoke(app, ["ui", "make-certificate", "--dir", str(tmp_path), "--name", "robot.local"])
    assert result.exit_code == 0 and "SHA-256 fingerprint: " + load_certificate(tmp_path).fingerprint in result.output


def test_run_and_ui_listen_on_loopback_unless_told_and_refuse_the_network_without_https(tmp_path, monkeypatch):
    import bidvis.run

    hosts = []
    monkeypatch.setattr(
        bidvis.run, "serve", lambda web_app, host, port, certificate=None: hosts.append((host, certificate))
    )
    assert CliRunner().invoke(app, ["ui", "--sim", "--dir", str(tmp_path)]).exit_code == 0
    assert hosts == [("127.0.0.1", None)]
    refused = CliRunner().invoke(app, ["ui", "--sim", "--dir", str(tmp_path), "--host", "0.0.0.0"])
    assert refused.exit_code == 2 and "only over HTTPS" in refused.output and "make-certificate" in refused.output
    make_certificate(tmp_path, ["robot.local"])
    served = CliRunner().invoke(app, ["ui", "--sim", "--dir", str(tmp_path), "--host", "0.0.0.0"])
    assert (
        served.exit_code == 0 and "https://robot.local:8080/staff" in served.output and "fingerprint" in served.output
    )
    assert hosts[-1][0] == "0.0.0.0" and hosts[-1][1] is not None
    import inspect

    from bidvis.ui_commands import run

    assert inspect.signature(run).parameters["host"].default == "127.0.0.1"
