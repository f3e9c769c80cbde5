// Typed errors: one class per gRPC status code, all KtgrpcError.
import { Code, ConnectError } from "@connectrpc/connect";

/** A call to the gateway failed with a gRPC status other than OK. */
export class KtgrpcError extends Error {
  constructor(message, code, cause, reason = "", domain = "", metadata = {}) {
    super(`${codeName(code)}: ${message}`, { cause });
    this.name = new.target.name;
    this.code = codeName(code);
    this.rawMessage = message;
    this.reason = reason;
    this.domain = domain;
    this.metadata = metadata;
  }
}

const names = {
  [Code.Canceled]: "CANCELLED",
  [Code.Unknown]: "UNKNOWN",
  [Code.InvalidArgument]: "INVALID_ARGUMENT",
  [Code.DeadlineExceeded]: "DEADLINE_EXCEEDED",
  [Code.NotFound]: "NOT_FOUND",
  [Code.AlreadyExists]: "ALREADY_EXISTS",
  [Code.PermissionDenied]: "PERMISSION_DENIED",
  [Code.ResourceExhausted]: "RESOURCE_EXHAUSTED",
  [Code.FailedPrecondition]: "FAILED_PRECONDITION",
  [Code.Aborted]: "ABORTED",
  [Code.OutOfRange]: "OUT_OF_RANGE",
  [Code.Unimplemented]: "UNIMPLEMENTED",
  [Code.Internal]: "INTERNAL",
  [Code.Unavailable]: "UNAVAILABLE",
  [Code.DataLoss]: "DATA_LOSS",
  [Code.Unauthenticated]: "UNAUTHENTICATED",
};

function codeName(code) {
  return names[code] ?? "UNKNOWN";
}

export class CancelledError extends KtgrpcError {}
export class UnknownError extends KtgrpcError {}
export class InvalidArgumentError extends KtgrpcError {}
export class DeadlineExceededError extends KtgrpcError {}
export class NotFoundError extends KtgrpcError {}
export class AlreadyExistsError extends KtgrpcError {}
export class PermissionDeniedError extends KtgrpcError {}
export class ResourceExhaustedError extends KtgrpcError {}
export class FailedPreconditionError extends KtgrpcError {}
export class AbortedError extends KtgrpcError {}
export class OutOfRangeError extends KtgrpcError {}
export class UnimplementedError extends KtgrpcError {}
export class InternalError extends KtgrpcError {}
export class UnavailableError extends KtgrpcError {}
export class DataLossError extends KtgrpcError {}
export class UnauthenticatedError extends KtgrpcError {}

const classes = {
  [Code.Canceled]: CancelledError,
  [Code.Unknown]: UnknownError,
  [Code.InvalidArgument]: InvalidArgumentError,
  [Code.DeadlineExceeded]: DeadlineExceededError,
  [Code.NotFound]: NotFoundError,
  [Code.AlreadyExists]: AlreadyExistsError,
  [Code.PermissionDenied]: PermissionDeniedError,
  [Code.ResourceExhausted]: ResourceExhaustedError,
  [Code.FailedPrecondition]: FailedPreconditionError,
  [Code.Aborted]: AbortedError,
  [Code.OutOfRange]: OutOfRangeError,
  [Code.Unimplemented]: UnimplementedError,
  [Code.Internal]: InternalError,
  [Code.Unavailable]: UnavailableError,
  [Code.DataLoss]: DataLossError,
  [Code.Unauthenticated]: UnauthenticatedError,
};

/** Converts what a Connect call threw into the matching KtgrpcError. */
export function toKtgrpcError(err) {
  if (err instanceof KtgrpcError) return err;
  const ce = ConnectError.from(err);
  const Cls = classes[ce.code] ?? KtgrpcError;
  const info = ce.details.find((d) => d.type === "google.rpc.ErrorInfo" && d.value instanceof Uint8Array);
  const { reason = "", domain = "", metadata = {} } = info ? errorInfo(info.value) : {};
  return new Cls(ce.rawMessage, ce.code, err, reason, domain, metadata);
}

// google.rpc.ErrorInfo is {1: reason, 2: domain, 3: map<string, string>},
// read with a minimal wire decoder so that no googleapis package is needed.
function errorInfo(buf) {
  const dec = new TextDecoder();
  const out = { reason: "", domain: "", metadata: {} };
  try {
    for (const [num, value] of fields(buf)) {
      if (num === 1) out.reason = dec.decode(value);
      else if (num === 2) out.domain = dec.decode(value);
      else if (num === 3) {
        const entry = new Map(fields(value));
        out.metadata[dec.decode(entry.get(1) ?? new Uint8Array())] = dec.decode(entry.get(2) ?? new Uint8Array());
      }
    }
  } catch {
    return {};
  }
  return out;
}

function* fields(buf) {
  let i = 0;
  const varint = () => {
    let result = 0;
    for (let shift = 0; ; shift += 7) {
      if (i >= buf.length || shift > 49) throw new RangeError("bad varint");
      const b = buf[i++];
      result += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return result;
    }
  };
  while (i < buf.length) {
    const tag = varint();
    const wire = tag & 7;
    if (wire === 0) varint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const n = varint();
      if (i + n > buf.length) throw new RangeError("truncated field");
      yield [Math.floor(tag / 8), buf.subarray(i, i + n)];
      i += n;
    } else throw new RangeError(`unsupported wire type ${wire}`);
  }
}
