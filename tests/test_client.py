"""Faults no real Label Studio gives on demand (a server that accepts connections and never answers), and the
bytes of request bodies."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotate.labelstudio import client as client_mod
from annotate.labelstudio import http as http_mod
from annotate.labelstudio.client import LabelStudioClient
from annotate.errors import ServerError


class SilentServer:
    """Accepts every connection on loopback, reads the request and never answers."""

    def __init__(self) -> None:
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.connections.append(conn)

    def close(self) -> None:
        self._server.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def test_a_server_that_never_answers_is_given_up_on_after_one_more_try(silent: SilentServer) -> None:
    with LabelStudioClient(silent.url, "0" * 40, timeout=0.5, backoff=0.01) as c:
        with pytest.raises(ServerError, match=r"did not answer GET /api/projects/ within 0.5 s \(2 attempt\(s\)\)"):
            c.list_projects()
        assert len(silent.connections) == 2  # not five: a hung server is not coming back in seconds
        with pytest.raises(ServerError, match=r"did not answer POST /api/tasks/1/annotations/ within 0.5 s \(1 attempt"):
            c.create_annotation(1, [])
        assert len(silent.connections) == 3  # a save that may have landed is never sent twice


def test_time_outs_fit_the_call() -> None:
    """Ordinary calls fail within a minute on a hung server; only bulk calls wait for minutes."""
    worst = (client_mod.TIMEOUT_RETRIES + 1) * client_mod.READ_TIMEOUT
    assert client_mod.CONNECT_TIMEOUT <= 5 and worst <= 60 and client_mod.BULK_TIMEOUT >= 300
    with LabelStudioClient("http://127.0.0.1:9", "0" * 40) as c:
        assert c._http.timeout.connect == client_mod.CONNECT_TIMEOUT and c._http.timeout.read == client_mod.READ_TIMEOUT


@pytest.mark.parametrize(("sent", "code", "said"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_ctrl_c_or_sigterm_while_waiting_for_a_hung_server_stops_cleanly(
    silent: SilentServer, tmp_path: Path, sent: signal.Signals, code: int, said: str
) -> None:
    # SIGTERM (kill, a CI time-out) ended the process at once: exit -15, no message, temporary files left.
    env = {**os.environ, "LABEL_STUDIO_URL": silent.url, "LABEL_STUDIO_API_KEY": "0" * 40}
    command = [sys.executable, "-c", "from annotate.cli import run; run()", "pull", "--project", "p", "--pulled", str(tmp_path)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not silent.connections and time.monotonic() < deadline:
        time.sleep(0.05)
    assert silent.connections, "the command never reached the server"
    process.send_signal(sent)
    out, err = process.communicate(timeout=30)
    assert process.returncode == code and f"{said}; nothing was half written" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# What push sends: text of every kind (Arabic with its marks, emoji, control characters, line and paragraph
# separators, quotes and slashes), integers beyond 64 bits, keys that are not strings, nesting.
TEXT = st.text(st.characters(exclude_categories=("Cs",)))  # a lone surrogate is refused before it is sent (ingest)
BODIES = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT | st.sampled_from(["قصفت الطائرات مواقع في الرقة", "مـــدينة", "\u2028\r\n\x1f/\"\\", "👍🏽"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT | st.integers(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(BODIES)
def test_request_bodies_are_the_bytes_of_the_standard_librarys_compact_json(body: object) -> None:
    """Bodies are written by orjson (ten times as fast), byte for byte what the standard library writes."""
    expected = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert http_mod._compact_json(body) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False)))
def test_floats_in_request_bodies_are_the_same_numbers(body: list[float]) -> None:
    assert json.loads(http_mod._compact_json(body)) == body


def test_a_push_batch_is_written_by_the_fast_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The speed is the point: an ordinary body never falls back to the standard library."""
    monkeypatch.setattr(http_mod.json, "dumps", lambda *a, **k: pytest.fail("the standard library wrote the body"))
    task = {"data": {"text": "قصفت الطائرات مواقع في الرقة.\nوقال مسؤول 👍", "version": 1}, "meta": {"article_id": "a/1"}}
    assert http_mod._compact_json([task] * 3).startswith('[{"data":{"text":"قصفت'.encode())
