"""Server trust: CA file, pinned thumbprint (replacing CA and hostname checks), explicit insecure."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nsx import BasicAuth, NsxClient, TlsSettings, TlsVerificationError
from sim.nsx import NsxSimulator

HEALTH = "/api/v1/reverse-proxy/node/health"
ClientFactory = Callable[..., NsxClient]


def test_ca_file_is_trusted(make_client: ClientFactory, sim: NsxSimulator) -> None:
    client = make_client(tls=TlsSettings(ca_file=str(sim.ca_file)))
    assert client.get(HEALTH) == {"healthy": True}


def test_untrusted_ca_is_refused_before_any_request(make_client: ClientFactory, sim: NsxSimulator) -> None:
    before = sim.count_requests()
    client = make_client(tls=TlsSettings())  # system store: the simulator's CA is not in it
    with pytest.raises(TlsVerificationError):
        client.get(HEALTH)
    assert sim.count_requests() == before  # the credentials never left the client


@pytest.mark.parametrize("style", ["plain", "colons-upper"])
def test_pinned_thumbprint_is_accepted(make_client: ClientFactory, sim: NsxSimulator, style: str) -> None:
    pin = sim.thumbprint
    if style == "colons-upper":
        pin = ":".join(pin[i:i + 2] for i in range(0, len(pin), 2)).upper()
    client = make_client(tls=TlsSettings(thumbprint=pin))
    assert client.get(HEALTH) == {"healthy": True}


def test_wrong_thumbprint_is_refused_before_any_request(make_client: ClientFactory, sim: NsxSimulator) -> None:
    wrong = format(int(sim.thumbprint, 16) ^ 1, "064x")
    before = sim.count_requests()
    client = make_client(tls=TlsSettings(thumbprint=wrong))
    with pytest.raises(TlsVerificationError, match="thumbprint"):
        client.get(HEALTH)
    assert sim.count_requests() == before


def test_malformed_thumbprint_is_rejected() -> None:
    with pytest.raises(ValueError):
        TlsSettings(thumbprint="abc123")


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_insecure_only_by_explicit_choice_and_warned(
    make_client: ClientFactory, sim: NsxSimulator, log_lines: list[str]
) -> None:
    assert TlsSettings().insecure is False
    with pytest.raises(ValueError):
        TlsSettings(insecure=True, ca_file=str(sim.ca_file))
    client = make_client(tls=TlsSettings(insecure=True))
    assert client.get(HEALTH) == {"healthy": True}
    assert any("WARNING" in line and "DISABLED" in line for line in log_lines)


def test_pin_replaces_the_hostname_check_which_ca_mode_keeps(make_client: ClientFactory) -> None:
    """Dialled by an address its certificate does not name (as NSX managers often are)."""
    with NsxSimulator(host="0.0.0.0") as listening_everywhere:
        url = f"https://127.0.0.3:{listening_everywhere.port}"  # loopback, but not in the SANs
        auth = BasicAuth(listening_everywhere.username, listening_everywhere.password)
        by_ca = make_client(auth, managers=[url], tls=TlsSettings(ca_file=str(listening_everywhere.ca_file)))
        with pytest.raises(TlsVerificationError, match="hostname"):
            by_ca.get(HEALTH)
        pinned = make_client(auth, managers=[url], tls=TlsSettings(thumbprint=listening_everywhere.thumbprint))
        assert pinned.get(HEALTH) == {"healthy": True}


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize("trust", ["pin", "insecure"])
def test_a_fresh_transport_keeps_trust_and_credentials_but_shares_no_connection(
    make_client: ClientFactory, sim: NsxSimulator, log_lines: list[str], trust: str
) -> None:
    """What a forked process searches with (controllers/ccp/revision_prefetch.py)."""
    tls = TlsSettings(thumbprint=sim.thumbprint) if trust == "pin" else TlsSettings(insecure=True)
    client = make_client(tls=tls)
    assert client.get(HEALTH) == {"healthy": True}
    warned = sum("DISABLED" in line for line in log_lines)
    fresh = client.transport.fresh()
    try:
        assert fresh.manager_urls == client.transport.manager_urls
        assert fresh.request("GET", HEALTH) == {"healthy": True}
        # Its own sessions, so its own connection pools: not one socket in common.
        ours = {id(m.session) for m in client.transport._managers}
        assert not ours & {id(m.session) for m in fresh._managers}
        assert sum("DISABLED" in line for line in log_lines) == warned  # said once, by the original
    finally:
        fresh.close()
    wrong = make_client(tls=TlsSettings()).transport.fresh()  # the system store does not know the sim
    with pytest.raises(TlsVerificationError):
        wrong.request("GET", HEALTH)
    wrong.close()
