"""The shaping proxy delays, paces and counts (loosely: lower bounds only, no upper ones)."""

from __future__ import annotations

import time

import pytest
from azure.storage.blob import BlobClient, BlobServiceClient

from tests.support.azurite import DEV_ACCOUNT, DEV_KEY
from tests.support.shaping_proxy import ShapingProxy, _RequestCounter


def client_via(proxy: ShapingProxy, container: str, name: str) -> BlobClient:
    conn = (f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{proxy.port}/{DEV_ACCOUNT};")
    return BlobClient.from_connection_string(conn, container, name, retry_total=0)


@pytest.fixture
def container(azurite, container_name):
    BlobServiceClient.from_connection_string(azurite.connection_string).create_container(container_name)
    return container_name


def test_counts_requests_and_bytes_and_adds_the_round_trip(azurite, container):
    with ShapingProxy(upstream_port=azurite.port, rtt=0.2) as proxy:
        client = client_via(proxy, container, "a")
        client.upload_blob(b"x" * 1000, overwrite=True)  # one Put Blob
        start = time.monotonic()
        for _ in range(3):
            client.get_blob_properties()
        elapsed = time.monotonic() - start
        assert proxy.requests == 4
        assert proxy.sent > 1000
        assert proxy.received > 0
        assert elapsed >= 3 * 0.2 * 0.9  # each request waits a round trip at least


def test_byte_rate_paces_uploads(azurite, container):
    with ShapingProxy(upstream_port=azurite.port, byte_rate=4 * 2**20) as proxy:
        client = client_via(proxy, container, "b")
        start = time.monotonic()
        client.upload_blob(b"y" * (3 * 2**20), overwrite=True)
        assert time.monotonic() - start >= 0.6  # 3 MiB at 4 MiB/s: 0.75 s
        assert proxy.sent >= 3 * 2**20


def test_request_rate_paces_requests(azurite, container):
    with ShapingProxy(upstream_port=azurite.port, request_rate=20) as proxy:
        client = client_via(proxy, container, "c")
        client.upload_blob(b"z", overwrite=True)
        start = time.monotonic()
        for _ in range(20):
            client.get_blob_properties()
        assert time.monotonic() - start >= 0.8  # 20 requests at 20/s: ~1 s
        assert proxy.requests == 21


def test_request_counter_follows_content_length_framing():
    counter = _RequestCounter()
    one = b"PUT /x HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody"
    stream = one * 5 + b"GET /y HTTP/1.1\r\nHost: h\r\n\r\n"
    assert sum(counter.feed(stream[i : i + 7]) for i in range(0, len(stream), 7)) == 6
    assert not counter.broken
    chunked = _RequestCounter()
    chunked.feed(b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n")
    assert chunked.broken


def test_listens_on_loopback_only(azurite):
    with ShapingProxy(upstream_port=azurite.port) as proxy:
        assert proxy._listener.getsockname()[0] == "127.0.0.1"


def _upload_side_by_side(proxy: ShapingProxy, container: str, names: list[str], size: int) -> float:
    import threading

    clients = [client_via(proxy, container, name) for name in names]
    threads = [threading.Thread(target=c.upload_blob, args=(b"w" * size,), kwargs={"overwrite": True}) for c in clients]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - start


def test_each_blob_has_its_own_byte_rate(azurite, container):
    # Two blobs of 2 MiB at 4 MiB/s each: side by side in ~0.5 s, not the ~1 s one shared
    # bucket would take; each blob's bytes are counted on their own.
    with ShapingProxy(upstream_port=azurite.port, blob_byte_rate=4 * 2**20) as proxy:
        elapsed = _upload_side_by_side(proxy, container, ["p", "q"], 2 * 2**20)
        assert 0.4 <= elapsed < 0.9
        assert all(proxy.blob_sent[f"/{DEV_ACCOUNT}/{container}/{n}"] >= 2 * 2**20 for n in "pq")


def test_the_link_rate_holds_for_all_blobs_together(azurite, container):
    with ShapingProxy(upstream_port=azurite.port, byte_rate=4 * 2**20, blob_byte_rate=4 * 2**20) as proxy:
        assert _upload_side_by_side(proxy, container, ["r", "s"], 2 * 2**20) >= 0.85  # 4 MiB at 4 MiB/s


def test_each_blob_has_its_own_request_rate(azurite, container):
    with ShapingProxy(upstream_port=azurite.port, blob_request_rate=20) as proxy:
        one = client_via(proxy, container, "t")
        other = client_via(proxy, container, "u")
        one.upload_blob(b"1", overwrite=True)
        other.upload_blob(b"2", overwrite=True)
        start = time.monotonic()
        for _ in range(10):
            one.get_blob_properties()
            other.get_blob_properties()
        assert time.monotonic() - start < 0.9  # 10 each at 20/s each: ~0.5 s; one bucket: ~1 s


def test_request_segments_name_each_bytes_blob():
    counter = _RequestCounter()
    stream = (b"PUT /acct/c/a.vhd?comp=page HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
              b"PUT /acct/c/b.vhd HTTP/1.1\r\nContent-Length: 2\r\n\r\nde")
    pieces = [p for i in range(0, len(stream), 5) for p in counter.segments(stream[i : i + 5])]
    by_blob: dict = {}
    for blob, _heads, nbytes in pieces:
        by_blob[blob] = by_blob.get(blob, 0) + nbytes
    assert sum(h for _b, h, _n in pieces) == 2
    assert sum(by_blob.values()) == len(stream)
    assert by_blob["/acct/c/a.vhd"] >= 3 and by_blob["/acct/c/b.vhd"] >= 2
