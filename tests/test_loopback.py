"""The loopback redirect receiver of ``pwb-oauth authorize`` (issue #10, items 4 and 13)."""
from __future__ import annotations

import socket
import subprocess
import sys
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


EXITS_AS_SOON_AS_THE_REDIRECT_ARRIVES = '''
import sys, time
from pwb_oauth_ext.network import loopback
answer = loopback._Handler._answer
def slow_answer(self, *args):      # a browser on a slow machine: the page takes a moment
    time.sleep(0.5)
    answer(self, *args)
loopback._Handler._answer = slow_answer
print(loopback.wait_for_redirect(sys.argv[1], 60), flush=True)
'''


def test_the_browser_gets_the_whole_page_although_the_command_exits_at_once() -> None:
    """``pwb-oauth authorize`` ends as soon as it knows the redirect (a denial, say):
    the page the browser is waiting for must be written before that, not cut off."""
    port = free_port()
    uri = f'http://127.0.0.1:{port}/cb'
    child = subprocess.Popen([sys.executable, '-c', EXITS_AS_SOON_AS_THE_REDIRECT_ARRIVES, uri],
                             stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(300):   # until the child listens
            try:
                socket.create_connection(('127.0.0.1', port), timeout=1).close()
                break
            except OSError:
                threading.Event().wait(0.05)
        with urllib.request.urlopen(f'{uri}?error=access_denied&state=s', timeout=30) as response:
            page = response.read().decode()
        assert 'Authorization not granted' in page
    finally:
        out, _ = child.communicate(timeout=60)
    assert out.strip() == f'{uri}?error=access_denied&state=s'
