/**
 * A tagged-union Result type with helpers, in the style of Rust's Result.
 */

export type Ok<T> = { readonly kind: "ok"; readonly value: T };
export type Err<E> = { readonly kind: "err"; readonly error: E };
export type Result<T, E = Error> = Ok<T> | Err<E>;

export const ok = <T>(value: T): Ok<T> => ({ kind: "ok", value });
export const err = <E>(error: E): Err<E> => ({ kind: "err", error });

export function isOk<T, E>(r: Result<T, E>): r is Ok<T> {
  return r.kind === "ok";
}

export function isErr<T, E>(r: Result<T, E>): r is Err<E> {
  return r.kind === "err";
}

export function map<T, U, E>(r: Result<T, E>, fn: (value: T) => U): Result<U, E> {
  return isOk(r) ? ok(fn(r.value)) : r;
}

export function andThen<T, U, E>(
  r: Result<T, E>,
  fn: (value: T) => Result<U, E>,
): Result<U, E> {
  return isOk(r) ? fn(r.value) : r;
}

export function unwrapOr<T, E>(r: Result<T, E>, fallback: T): T {
  switch (r.kind) {
    case "ok":
      return r.value;
    case "err":
      return fallback;
  }
}

export function unwrap<T, E>(r: Result<T, E>): T {
  if (isOk(r)) {
    return r.value;
  }
  const reason = r.error instanceof Error ? r.error.message : String(r.error);
  throw new Error(`called unwrap on an error result: ${reason}`);
}

/** Run a function and capture a thrown exception as an Err. */
export function attempt<T>(fn: () => T): Result<T, Error> {
  try {
    return ok(fn());
  } catch (e: unknown) {
    return err(e instanceof Error ? e : new Error(String(e)));
  }
}

export async function attemptAsync<T>(fn: () => Promise<T>): Promise<Result<T, Error>> {
  try {
    return ok(await fn());
  } catch (e) {
    return err(e instanceof Error ? e : new Error(String(e)));
  }
}

/** Collect an array of results into a result of an array (first error wins). */
export function all<T, E>(results: ReadonlyArray<Result<T, E>>): Result<T[], E> {
  const values: T[] = [];
  for (const r of results) {
    if (isErr(r)) return r;
    values.push(r.value);
  }
  return ok(values);
}
