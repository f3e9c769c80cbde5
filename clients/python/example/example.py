#!/usr/bin/env python3
"""Walk through the ktgrpc gateway from Python: set, get, bulk, scan, subscribe, resume.

Usage: example.py [ADDRESS]   (default: $KTGRPC_ADDR, else 127.0.0.1:7878)

Needs grpcio and protobuf (Debian: python3-grpcio python3-protobuf). The
generated stubs are found next to this directory, so no install is needed.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import grpc  # noqa: E402

from ktgrpc.v1 import cursor_pb2, cursor_pb2_grpc  # noqa: E402
from ktgrpc.v1 import kv_pb2, kv_pb2_grpc  # noqa: E402
from ktgrpc.v1 import replication_pb2, replication_pb2_grpc  # noqa: E402


def main(argv):
    address = argv[1] if len(argv) > 1 else os.environ.get("KTGRPC_ADDR", "127.0.0.1:7878")
    with grpc.insecure_channel(address) as channel:
        kv = kv_pb2_grpc.KVStub(channel)
        cursor = cursor_pb2_grpc.CursorStub(channel)
        replication = replication_pb2_grpc.ReplicationStub(channel)

        # Single records. A missing key is found=False, not an error.
        kv.Set(kv_pb2.SetRequest(key=b"greeting", value=b"hello"))
        print("set greeting")
        got = kv.Get(kv_pb2.GetRequest(key=b"greeting"))
        print("get greeting =", got.value.decode())
        missing = kv.Get(kv_pb2.GetRequest(key=b"missing"))
        print("get missing: found =", str(missing.found).lower())

        # Bulk operations.
        users = {"user:1": "ann", "user:2": "bob", "user:3": "cid"}
        stored = kv.SetBulk(kv_pb2.SetBulkRequest(records=[
            kv_pb2.SetBulkRequest.Entry(key=k.encode(), value=v.encode()) for k, v in users.items()
        ]))
        print("set_bulk stored", stored.stored)
        bulk = kv.GetBulk(kv_pb2.GetBulkRequest(keys=[b"user:1", b"user:3", b"user:9"]))
        print("get_bulk", " ".join(f"{r.key.decode()}={r.value.decode()}" for r in bulk.records))

        # Scan streams records in key order, in batches.
        for batch in cursor.Scan(cursor_pb2.ScanRequest(prefix=b"user:")):
            for r in batch.records:
                print(f"scan {r.key.decode()}={r.value.decode()}")

        removed = kv.RemoveBulk(kv_pb2.RemoveBulkRequest(keys=[b"user:2", b"user:3"]))
        print("remove_bulk removed", removed.removed)

        # Replay the update log from the start; the first progress message
        # after the replay says the stream has caught up. Its position is
        # where a later Subscribe(after=position) would resume.
        saved = 0
        stream = replication.Subscribe(replication_pb2.SubscribeRequest(after=0))
        try:
            for msg in stream:
                if msg.WhichOneof("kind") == "progress":
                    saved = msg.progress.position
                    print("caught up: resume position > 0 =", str(saved > 0).lower())
                    break
                ev = msg.event
                print("event", op_name(ev), ev.key.decode(errors="backslashreplace"))  # keys may be binary
        finally:
            stream.cancel()

        # A consumer that stopped at the saved position resumes exactly after it.
        kv.Set(kv_pb2.SetRequest(key=b"user:4", value=b"dan"))
        for ev in resuming_watch(replication, b"user:", saved):
            print("resumed event", op_name(ev), ev.key.decode(errors="backslashreplace"))
            break
    return 0


def op_name(ev):
    return replication_pb2.Operation.Name(ev.operation).removeprefix("OPERATION_").lower()


# Errors after which a consumer resumes: the gateway restarting or
# unreachable, or ending a consumer that fell behind its buffer.
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)


def resuming_watch(replication, prefix, after):
    """Yield the changes to keys with prefix after position `after`, forever.

    Persist the position of each change handled (progress messages too) and
    pass it as `after` when the consumer restarts: resuming is exclusive, so
    each change comes once. A failure worth retrying resumes after the last
    position seen, waiting 0.1s, then twice as long, up to 5s.
    """
    backoff = 0.1
    while True:
        stream = replication.Watch(replication_pb2.WatchRequest(prefix=prefix, after=after))
        try:
            for msg in stream:
                kind = msg.WhichOneof("kind")
                if kind == "event":
                    after = msg.event.position
                    backoff = 0.1
                    yield msg.event
                elif kind == "progress":
                    after = max(after, msg.progress.position)
            return
        except grpc.RpcError as err:
            if err.code() not in RETRYABLE:
                raise
        finally:
            stream.cancel()
        time.sleep(backoff)
        backoff = min(backoff * 2, 5.0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
