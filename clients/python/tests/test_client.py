"""Tests of ktgrpc.Client against a live gateway (the ktgrpc_gateway fixture
comes from the package's pytest plugin)."""

import datetime as dt
import hashlib
import os
import subprocess

import grpc
import pytest

import ktgrpc
from ktgrpc import errors
from ktgrpc.testing import EmbeddedGateway, GatewayError

from proxy import Proxy


def test_get_returns_value_or_none(ktgrpc_client):
    c = ktgrpc_client
    assert c.get("greeting") is None
    assert c.get("greeting", b"dflt") == b"dflt"
    c.set("greeting", "hello")
    assert c.get("greeting") == b"hello"
    assert c.get(b"greeting") == b"hello"


def test_set_with_ttl_and_expire_at(ktgrpc_client):
    c = ktgrpc_client
    before = dt.datetime.now(dt.timezone.utc)
    c.set("session", b"s", ttl=60)
    rec = c.get_record("session")
    assert rec.value == b"s"
    assert before + dt.timedelta(seconds=50) < rec.expire_time <= before + dt.timedelta(seconds=70)
    at = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)
    c.set("later", b"x", expire_at=at)
    assert c.get_record("later").expire_time == at
    c.set("forever", b"x")
    assert c.get_record("forever").expire_time is None
    assert c.get_record("missing") is None
    with pytest.raises(ValueError):
        c.set("k", b"v", ttl=1, expire_at=at)


def test_dict_style_access(ktgrpc_client):
    c = ktgrpc_client
    c["a"] = b"1"
    assert c["a"] == b"1"
    assert "a" in c and "b" not in c
    with pytest.raises(KeyError):
        c["b"]
    del c["a"]
    with pytest.raises(KeyError):
        del c["a"]
    c["x"], c["y"] = b"1", b"2"
    assert list(c) == ["x", "y"]
    assert len(c) == 2


def test_conditional_writes_and_counters(ktgrpc_client):
    c = ktgrpc_client
    assert c.add("k", b"v1") is True
    assert c.add("k", b"v2") is False
    assert c.replace("k", b"v3") is True
    assert c.replace("nope", b"v") is False
    assert c.cas("k", b"wrong", b"v4") is False
    assert c.cas("k", b"v3", b"v4") is True
    assert c.get("k") == b"v4"
    assert c.cas("new", None, b"n") is True
    assert c.cas("new", None, b"n") is False
    assert c.cas("new", b"n", None) is True and c.get("new") is None
    c.append("k", b"!")
    assert c.get("k") == b"v4!"
    assert c.check("k") == 3 and c.check("nope") is None
    assert c.seize("k") == b"v4!" and c.get("k") is None
    assert c.remove("k") is False
    assert c.incr("hits") == 1
    assert c.incr("hits", 5) == 6
    assert c.decr("hits", 2) == 4
    assert c.incr("fresh", 1, initial=10) == 11
    assert c.incr("absent", 1, must_exist=True) is None
    assert c.incr_double("ratio", 0.5) == pytest.approx(0.5)
    assert c.incr_double("ratio", 0.25) == pytest.approx(0.75)


def test_bulk_with_dicts(ktgrpc_client):
    c = ktgrpc_client
    assert c.set_bulk({"user:1": b"ann", "user:2": b"bob", "user:3": b"cid"}) == 3
    assert c.get_bulk(["user:1", "user:3", "user:9"]) == {"user:1": b"ann", "user:3": b"cid"}
    assert c.remove_bulk(["user:2", "user:9"]) == 1
    assert c.get_bulk(["user:2"]) == {}


def test_match(ktgrpc_client):
    c = ktgrpc_client
    c.set_bulk({"user:1": b"", "user:2": b"", "item:1": b"", "usr:1": b""})
    assert c.match("user:") == ["user:1", "user:2"]
    assert c.match(regex="^i") == ["item:1"]
    assert sorted(c.match(similar="user:1", max_distance=1)) == ["user:1", "user:2", "usr:1"]
    assert c.match("user:", limit=1) == ["user:1"]
    with pytest.raises(ValueError):
        c.match()


def test_scan(ktgrpc_client):
    c = ktgrpc_client
    c.set_bulk({f"k{i}": str(i).encode() for i in range(5)})
    c.set("other", b"o")
    assert [(r.key, r.value) for r in c.scan("k")] == [(f"k{i}", str(i).encode()) for i in range(5)]
    assert [r.key for r in c.scan("k", reverse=True, limit=2)] == ["k4", "k3"]
    assert [r.key for r in c.scan(start="k1", end="k3")] == ["k1", "k2"]
    assert [r.value for r in c.scan("k", keys_only=True)] == [None] * 5
    assert dict(c.items("k")) == {f"k{i}": str(i).encode() for i in range(5)}
    assert list(c.keys()) == ["k0", "k1", "k2", "k3", "k4", "other"]


def test_binary_keys_and_values_round_trip(ktgrpc_client):
    c = ktgrpc_client
    c.set(b"\x00\xff", b"\x00\x01\xfe\xff")
    [rec] = list(c.scan())
    assert isinstance(rec.key, str)
    assert c.get(rec.key) == b"\x00\x01\xfe\xff"
    events = c.watch(after=0, prefix=b"\x00", operations=["set"])
    ev = next(events)
    assert c._key(ev.key) == b"\x00\xff" and ev.value == b"\x00\x01\xfe\xff"
    events.close()
    raw = ktgrpc.Client(c.target, raw_keys=True)
    assert [r.key for r in raw.scan()] == [b"\x00\xff"]
    raw.close()


@pytest.mark.parametrize("name,value", [
    ("json", {"name": "ann", "tags": ["a", "b"], "n": 1}),
    ("msgpack", {"name": "ann", "bin": b"\x00\xff", "n": [1, 2]}),
    ("str", "héllo"),
    ("bytes", b"\x00raw"),
])
def test_serializers(ktgrpc_gateway, name, value):
    with ktgrpc_gateway.client(serializer=name) as c:
        c.clear()
        c.set("v", value)
        assert c.get("v") == value
        c.set_bulk({"w": value})
        assert c.get_bulk(["w"]) == {"w": value}
        assert [r.value for r in c.scan()] == [value, value]
    with ktgrpc_gateway.client() as raw:
        assert raw.get("v") == ktgrpc.serializers.resolve(name).dumps(value)


def test_custom_serializer(ktgrpc_gateway):
    class Upper:
        def dumps(self, v):
            return v.upper().encode()

        def loads(self, b):
            return b.decode().lower()

    with ktgrpc_gateway.client(serializer=Upper()) as c:
        c["x"] = "abc"
        assert c["x"] == "abc"
        assert c.with_db("").serializer is c.serializer
    with ktgrpc_gateway.client() as raw:
        assert raw["x"] == b"ABC"
    with pytest.raises(ValueError):
        ktgrpc.Client("127.0.0.1:1", serializer="yaml")


def test_databases(ktgrpc_client):
    c = ktgrpc_client
    other = c.with_db("1")
    other.clear()
    other["k"] = b"in 1"
    assert c.get("k") is None and other["k"] == b"in 1"
    with pytest.raises(errors.InvalidArgument) as e:
        c.with_db("nope").get("k")
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "nope" in e.value.message


def test_typed_errors(ktgrpc_client):
    c = ktgrpc_client
    with pytest.raises(errors.InvalidArgument):
        c.get("")
    with pytest.raises(ValueError):  # InvalidArgument is a ValueError too
        c.set("", b"v")
    c["text"] = b"not a number"
    with pytest.raises(errors.FailedPrecondition) as e:
        c.incr("text")
    assert isinstance(e.value, ktgrpc.KtgrpcError) and str(e.value).startswith("FAILED_PRECONDITION: ")
    with ktgrpc.Client("127.0.0.1:1", timeout=5) as down:
        with pytest.raises(errors.Unavailable):
            down.get("k")


def test_error_info_reason():
    # google.rpc.Status{code: 5, message: "m", details: [Any(ErrorInfo{reason:
    # "KEY_MISSING", domain: "ktgrpc", metadata: {"key": "k"}})]}, encoded by hand.
    def ld(num, payload):
        return bytes([num << 3 | 2, len(payload)]) + payload

    info = ld(1, b"KEY_MISSING") + ld(2, b"ktgrpc") + ld(3, ld(1, b"key") + ld(2, b"k"))
    any_ = ld(1, b"type.googleapis.com/google.rpc.ErrorInfo") + ld(2, info)
    status = bytes([1 << 3, 5]) + ld(2, b"m") + ld(3, any_)

    class KeyMissing(errors.NotFound):
        pass

    class FakeError(grpc.RpcError):
        def code(self):
            return grpc.StatusCode.NOT_FOUND

        def details(self):
            return "m"

        def trailing_metadata(self):
            return (("grpc-status-details-bin", status),)

    e = errors.from_rpc_error(FakeError())
    assert type(e) is errors.NotFound
    assert (e.reason, e.domain, e.metadata) == ("KEY_MISSING", "ktgrpc", {"key": "k"})
    errors.register_reason("KEY_MISSING", KeyMissing, domain="ktgrpc")
    assert type(errors.from_rpc_error(FakeError())) is KeyMissing


def test_large_values(ktgrpc_client):
    big = os.urandom(6 << 20)  # over gRPC's default 4 MiB receive limit
    ktgrpc_client.set("big", big)
    assert ktgrpc_client.get("big") == big


@pytest.fixture
def reconnects(monkeypatch):
    """Counts the client's reconnections (and skips their backoff delay)."""
    calls = []
    monkeypatch.setattr(ktgrpc.client, "_backoff", lambda failures, *a: calls.append(failures))
    return calls


def test_watch_replays_and_resumes_after_network_failure(ktgrpc_gateway, reconnects):
    with ktgrpc_gateway.client() as direct:
        direct.clear()
        start = next(direct.watch(progress=True, progress_interval=0.05)).position
        proxy = Proxy(ktgrpc_gateway.address)
        try:
            with ktgrpc.Client(proxy.address) as c:
                events = c.watch(after=start)
                direct.set("w:1", b"a")
                ev1 = next(events)
                assert (ev1.operation, ev1.key, ev1.value) == ("set", "w:1", b"a")
                assert ev1.position > start
                proxy.cut()
                direct.set("w:2", b"b")
                direct.remove("w:1")
                ev2, ev3 = next(events), next(events)
                assert (ev2.operation, ev2.key) == ("set", "w:2")
                assert (ev3.operation, ev3.key) == ("remove", "w:1")
                assert ev1.position < ev2.position < ev3.position
                assert reconnects == [1]
                events.close()
                # A consumer that saved a position resumes exactly after it.
                again = c.watch(after=ev2.position)
                assert next(again).position == ev3.position
                again.close()
        finally:
            proxy.close()


def test_watch_filters(ktgrpc_client):
    c = ktgrpc_client
    start = next(c.watch(progress=True, progress_interval=0.05)).position
    events = c.watch(start, prefix="keep:", operations=["set"])
    c.set("drop:1", b"")
    c.set("keep:1", b"")
    c.remove("keep:1")
    c.set("keep:2", b"")
    assert [e.key for e in (next(events), next(events))] == ["keep:1", "keep:2"]
    events.close()


def test_scan_resumes_after_network_failure(ktgrpc_gateway, reconnects):
    value = b"v" * (128 << 10)  # 16 MiB in all
    with ktgrpc_gateway.client() as direct:
        direct.clear()
        direct.set_bulk({f"s:{i:03}": value for i in range(128)})
    # The connection breaks after 4 MiB, a quarter of the way through.
    proxy = Proxy(ktgrpc_gateway.address, cut_after=4 << 20)
    try:
        with ktgrpc.Client(proxy.address) as c:
            keys = []
            for rec in c.scan("s:", batch_size=1):
                keys.append(rec.key)
                assert rec.value == value
            assert proxy.cuts == 1
            assert keys == [f"s:{i:03}" for i in range(128)]
            assert reconnects == [1]
            assert [r.key for r in c.scan("s:", reverse=True, limit=5)] == [f"s:{i:03}" for i in range(127, 122, -1)]
    finally:
        proxy.close()


@pytest.fixture(scope="module")
def token_gateway(tmp_path_factory):
    token = "s3cret-token"
    path = tmp_path_factory.mktemp("tokens") / "tokens"
    path.write_text(
        f"app read,write sha256:{hashlib.sha256(token.encode()).hexdigest()}\n"
        f"viewer read sha256:{hashlib.sha256(b'viewer-token').hexdigest()}\n"
    )
    with EmbeddedGateway(args=["--tokens-file", str(path)]) as gw:
        yield gw, token


def test_bearer_token(token_gateway, tmp_path):
    gw, token = token_gateway
    with gw.client(token=token) as c:
        c["k"] = b"v"
        assert c["k"] == b"v"
    f = tmp_path / "token"
    f.write_text(token + "\n")
    with gw.client(token_file=str(f)) as c:
        assert c["k"] == b"v"
    with gw.client() as anon:
        with pytest.raises(errors.Unauthenticated):
            anon.get("k")
    with gw.client(token="wrong") as bad:
        with pytest.raises(errors.Unauthenticated):
            bad.get("k")
    with gw.client(token="viewer-token") as viewer:
        assert viewer["k"] == b"v"
        with pytest.raises(errors.PermissionDenied) as e:
            viewer["k"] = b"w"
        assert "write" in e.value.message


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def test_tls(tmp_path):
    if subprocess.run(["sh", "-c", "command -v openssl"], capture_output=True).returncode != 0:
        pytest.skip("openssl not found")
    ca_key, ca, key, csr, cert = (str(tmp_path / n) for n in ("ca.key", "ca.pem", "gw.key", "gw.csr", "gw.pem"))
    ext = tmp_path / "ext"
    ext.write_text("subjectAltName=DNS:gateway.test\n")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", ca_key, "-out", ca, "-subj", "/CN=test CA", "-days", "1")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=gateway.test")
    _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
             "-out", cert, "-days", "1", "-extfile", str(ext))
    with EmbeddedGateway(args=["--tls-cert", cert, "--tls-key", key]) as gw:
        with gw.client(root_certificates=ca, server_name="gateway.test", timeout=10) as c:
            c["k"] = b"over tls"
            assert c["k"] == b"over tls"
        with gw.client(timeout=10) as plain:
            with pytest.raises(errors.Unavailable):
                plain.get("k")


def test_embedded_gateway_errors(tmp_path):
    with pytest.raises(GatewayError):
        EmbeddedGateway(binary=str(tmp_path / "missing")).start()
    with pytest.raises(GatewayError) as e:
        EmbeddedGateway(backend="nonsense:").start()
    assert "nonsense" in str(e.value)
