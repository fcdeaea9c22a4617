from __future__ import annotations

import pytest

from renkei.egress.errors import TargetRefused
from renkei.egress.ssrf import TargetPolicy, parse_networks
from renkei.settings import Settings

DEFAULT = TargetPolicy()
PRIVATE_OK = TargetPolicy(allow_private=True)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("100.64.0.1", "CGNAT"),
        ("100.127.255.254", "CGNAT"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "private|reserved"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a00:1", "private"),
        ("2002:c0a8:101::1", "private"),
    ],
)
def test_non_public_addresses_are_refused_by_default(address: str, reason: str) -> None:
    with pytest.raises(TargetRefused, match=reason):
        DEFAULT.check_address(address)
    PRIVATE_OK.check_address(address)


def test_refusals_name_the_address_and_the_reason() -> None:
    with pytest.raises(TargetRefused) as caught:
        DEFAULT.check_address("::ffff:127.0.0.1")
    assert str(caught.value) == "::ffff:7f00:1 (IPv4 127.0.0.1) refused by policy: loopback"
    assert (caught.value.target, caught.value.reason) == (
        "::ffff:7f00:1 (IPv4 127.0.0.1)",
        "loopback",
    )


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "fd00:ec2::254",
        "100.100.100.200",
        "168.63.129.16",
        "169.254.170.2",
    ],
)
def test_metadata_addresses_stay_refused_with_allow_private(address: str) -> None:
    for policy in (DEFAULT, PRIVATE_OK):
        with pytest.raises(TargetRefused, match="cloud metadata"):
            policy.check_address(address)


def test_an_explicit_network_opens_even_metadata() -> None:
    policy = TargetPolicy(allowed_networks=parse_networks("169.254.169.254/32, 10.0.0.0/8"))
    policy.check_address("169.254.169.254")
    policy.check_address("10.9.8.7")
    policy.check_address("::ffff:10.9.8.7")
    with pytest.raises(TargetRefused, match="private"):
        policy.check_address("192.168.0.1")
    with pytest.raises(TargetRefused):
        policy.check_address("169.254.169.253")


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    DEFAULT.check_address(address)


def test_allowed_addresses_keeps_the_allowed_and_names_every_refusal() -> None:
    assert DEFAULT.allowed_addresses("mixed.test", ["10.0.0.1", "93.184.215.14"]) == [
        "93.184.215.14"
    ]
    with pytest.raises(TargetRefused) as caught:
        DEFAULT.allowed_addresses("internal.test", ["127.0.0.1", "::1"])
    message = str(caught.value)
    assert "internal.test" in message
    assert "127.0.0.1 is loopback" in message
    assert "::1 is loopback" in message


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/hook", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("example.com/hook", "only http and https"),
        ("http:///hook", "no host"),
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("http://example.com:99999/", "valid URL"),
    ],
)
def test_check_url_refuses_at_save_time(url: str, reason: str) -> None:
    with pytest.raises(TargetRefused, match=reason):
        DEFAULT.check_url(url)


def test_check_url_accepts_names_and_public_addresses_and_hides_credentials() -> None:
    DEFAULT.check_url("https://hooks.example.com/renkei?token=abc")
    DEFAULT.check_url("http://LOCALHOST:8080/")  # a name: checked when connecting
    DEFAULT.check_url("https://93.184.215.14/hook")
    with pytest.raises(TargetRefused) as caught:
        DEFAULT.check_url("http://user:s3cret@10.0.0.1/hook?token=t0ken")
    assert "s3cret" not in str(caught.value)
    assert "t0ken" not in str(caught.value)


def test_https_only() -> None:
    policy = TargetPolicy(https_only=True)
    policy.check_url("https://example.com/")
    with pytest.raises(TargetRefused, match="only https"):
        policy.check_url("http://example.com/")


def test_policy_from_settings() -> None:
    settings = Settings(
        allow_private_targets=True, allowed_target_networks="169.254.169.254/32, 10.0.0.0/8"
    )
    policy = TargetPolicy.from_settings(settings)
    assert policy.allow_private
    policy.check_address("169.254.169.254")
    assert TargetPolicy.from_settings(Settings()) == TargetPolicy()
    with pytest.raises(ValueError):
        parse_networks("10.0.0.0/33")
