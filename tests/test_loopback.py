"""The loopback redirect receiver of ``pwb-oauth authorize`` (issue #10, items 4 and 13)."""
from __future__ import annotations

import socket
import threading
import urllib.request

import pytest
from capture import free_port

from pwb_oauth_ext.config.credentials import OAuth2
from pwb_oauth_ext.errors import ConfigError
from pwb_oauth_ext.network.loopback import LoopbackReceiver, is_loopback_redirect


def test_an_idle_connection_does_not_hold_up_the_redirect() -> None:
    """A browser preconnect (or any local process) that connects and sends nothing."""
    port = free_port()
    with LoopbackReceiver(f'http://127.0.0.1:{port}/cb') as receiver:
        idle = [socket.create_connection(('127.0.0.1', port)) for _ in range(3)]
        try:
            result: list[str] = []
            waiter = threading.Thread(target=lambda: result.append(receiver.wait(60)))
            waiter.start()
            with urllib.request.urlopen(f'http://127.0.0.1:{port}/cb?code=c1&state=s',
                                        timeout=30) as response:
                assert response.status == 200
            waiter.join(timeout=30)
            # Checked while the idle connections are still open: they must not matter.
            assert not waiter.is_alive(), 'the redirect is stuck behind an idle connection'
        finally:
            for connection in idle:
                connection.close()
            waiter.join()
    assert result == [f'http://127.0.0.1:{port}/cb?code=c1&state=s']


def test_port_zero_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match='port 0'):
        LoopbackReceiver('http://127.0.0.1:0/cb')
    with pytest.raises(ConfigError, match=r"OAuth2\(\.\.\.\): redirect_uri .* has port 0"):
        OAuth2(client_id='cid', redirect_uri='http://127.0.0.1:0/cb')


@pytest.mark.parametrize('uri', [
    'http://evil.example\\@127.0.0.1:8765/cb',        # urllib3 (and browsers): evil.example
    'http://127.0.0.1.evil.example:8765/cb',
    'http://127.2:8765/cb',                           # not a loopback name we know
])
def test_loopback_redirect_is_judged_on_the_host_connected_to(uri: str) -> None:
    assert not is_loopback_redirect(uri)
