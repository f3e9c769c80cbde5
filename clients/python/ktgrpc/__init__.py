"""Python stubs for the ktgrpc gateway, generated from proto/ktgrpc/v1.

Import the messages and stubs from ktgrpc.v1, for example::

    from ktgrpc.v1 import kv_pb2, kv_pb2_grpc
"""
