"""`RunningServer(keep_alive=True)`: HTTP/1.1 answers on one reused connection (benchmarks);
the default still closes each connection after one request (the fault tests' drops)."""

from __future__ import annotations

import http.client

from numbers_iac.emulators.faults import Fault
from numbers_iac.emulators.serve import RunningServer, make_app
from numbers_iac.simulation import World

PATH = "/v1/Account/MAEMULATOR000000000/Number/"


def _get(connection: http.client.HTTPConnection) -> http.client.HTTPResponse:
    connection.request("GET", PATH, headers={"Authorization": "Basic bad"})
    response = connection.getresponse()
    response.read()
    return response


def test_keep_alive_answers_several_requests_on_one_connection():
    app = make_app("plivo", World.from_seed({"owned": 2}))
    with RunningServer(app, keep_alive=True) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        first = _get(connection)
        sock = connection.sock
        second = _get(connection)
        assert first.version == 11 and first.getheader("Content-Length")
        assert connection.sock is sock  # the same socket carried both
        assert second.status == first.status
        connection.close()
    assert len(app.log) == 2


def test_by_default_each_connection_carries_one_request():
    app = make_app("plivo", World.from_seed({"owned": 2}))
    app.add(Fault(status=None, delay=0.0, times=10))
    with RunningServer(app) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        response = _get(connection)
        assert response.version == 10
        assert response.will_close
        connection.close()
