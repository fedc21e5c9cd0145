"""The hand-framed Put Page exchange reads answers as http.client would, and fails as it would.

Each answer is written by hand into one end of a socket pair; ``_exchange`` reads the other."""

from __future__ import annotations

import http.client
import socket
import threading

import pytest

from vhdupload.azure.direct_put import _exchange

HEAD = b"PUT /c/b?comp=page HTTP/1.1\r\nHost: h\r\n\r\n"
BODY = b"\x5a" * 512


def _answer(raw: bytes, *, close: bool = True):
    """Run ``_exchange`` against a peer that reads the request, then writes ``raw``."""
    ours, peer = socket.socketpair()
    received = bytearray()

    def serve():
        while len(received) < len(HEAD) + len(BODY):
            chunk = peer.recv(65536)
            if not chunk:
                break
            received.extend(chunk)
        peer.sendall(raw)
        if close:
            peer.shutdown(socket.SHUT_WR)

    server = threading.Thread(target=serve)
    server.start()
    try:
        return _exchange(ours, HEAD, BODY)
    finally:
        server.join(5)
        assert bytes(received) == HEAD + BODY  # the request went out whole, headers then body
        ours.close()
        peer.close()


def test_created_with_content_length_keeps_the_connection():
    response = _answer(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nx-ms-request-id: 1\r\n\r\n", close=False)
    assert (response.status, response.body, response.will_close) == (201, b"", False)


def test_an_error_answer_keeps_its_headers_and_body():
    xml = b"<?xml version='1.0'?><Error><Code>Crc64Mismatch</Code><Message>bad</Message></Error>"
    raw = (b"HTTP/1.1 400 The CRC64 does not match\r\nx-ms-error-code: Crc64Mismatch\r\n"
           b"Content-Length: " + str(len(xml)).encode() + b"\r\n\r\n" + xml)
    response = _answer(raw, close=False)
    assert response.status == 400
    assert response.reason == "The CRC64 does not match"
    assert response.getheader("X-MS-Error-Code") == "Crc64Mismatch"
    assert response.body == xml


def test_continue_is_skipped_and_chunked_bodies_are_joined():
    raw = (b"HTTP/1.1 100 Continue\r\n\r\n"
           b"HTTP/1.1 503 Server Busy\r\nTransfer-Encoding: chunked\r\nRetry-After: 2\r\n\r\n"
           b"4\r\nbusy\r\n3;ext=1\r\n!!!\r\n0\r\nTrailer: x\r\n\r\n")
    response = _answer(raw, close=False)
    assert (response.status, response.body) == (503, b"busy!!!")
    assert response.getheader("retry-after") == "2"


def test_connection_close_and_http_1_0_without_length_close():
    assert _answer(b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").will_close
    response = _answer(b"HTTP/1.0 500 Internal Server Error\r\n\r\nsomething broke")
    assert (response.status, response.body, response.will_close) == (500, b"something broke", True)


def test_an_empty_reply_is_a_remote_disconnect():
    with pytest.raises(http.client.RemoteDisconnected):
        _answer(b"")


def test_a_garbage_status_line_is_a_bad_status_line():
    with pytest.raises(http.client.BadStatusLine):
        _answer(b"NOT-HTTP nonsense\r\n\r\n")


def test_a_truncated_body_is_an_incomplete_read():
    with pytest.raises(http.client.IncompleteRead):
        _answer(b"HTTP/1.1 400 Bad\r\nContent-Length: 100\r\n\r\nshort")
