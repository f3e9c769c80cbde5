/** A call to the gateway failed with a gRPC status other than OK. */
export declare class KtgrpcError extends Error {
  /** The status code's name, e.g. "NOT_FOUND". */
  readonly code: string;
  /** The gateway's message without the code. */
  readonly rawMessage: string;
  readonly reason: string;
  readonly domain: string;
  readonly metadata: Record<string, string>;
}
export declare class CancelledError extends KtgrpcError {}
export declare class UnknownError extends KtgrpcError {}
export declare class InvalidArgumentError extends KtgrpcError {}
export declare class DeadlineExceededError extends KtgrpcError {}
export declare class NotFoundError extends KtgrpcError {}
export declare class AlreadyExistsError extends KtgrpcError {}
export declare class PermissionDeniedError extends KtgrpcError {}
export declare class ResourceExhaustedError extends KtgrpcError {}
export declare class FailedPreconditionError extends KtgrpcError {}
export declare class AbortedError extends KtgrpcError {}
export declare class OutOfRangeError extends KtgrpcError {}
export declare class UnimplementedError extends KtgrpcError {}
export declare class InternalError extends KtgrpcError {}
export declare class UnavailableError extends KtgrpcError {}
export declare class DataLossError extends KtgrpcError {}
export declare class UnauthenticatedError extends KtgrpcError {}
/** Converts what a Connect call threw into the matching KtgrpcError. */
export declare function toKtgrpcError(err: unknown): KtgrpcError;
