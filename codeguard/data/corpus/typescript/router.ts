import { Result, ok, err } from "./result";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface Request {
  method: HttpMethod;
  path: string;
  headers: Record<string, string>;
  body?: unknown;
  params: Record<string, string>;
  query: URLSearchParams;
}

export interface Response {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export type Handler = (req: Request) => Response | Promise<Response>;
export type Middleware = (req: Request, next: () => Promise<Response>) => Promise<Response>;

interface Route {
  method: HttpMethod;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
}

export enum RouteError {
  NotFound = 404,
  MethodNotAllowed = 405,
}

export class HttpError extends Error {
  constructor(
    public readonly status: number,
    message: string,
    public readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** Compile "/users/:id/posts/:postId?" into a regular expression. */
function compile(path: string): { pattern: RegExp; keys: string[] } {
  const keys: string[] = [];
  const source = path
    .split("/")
    .filter(Boolean)
    .map((segment) => {
      if (segment === "*") {
        keys.push("wildcard");
        return "/(.*)";
      }
      if (segment.startsWith(":")) {
        const optional = segment.endsWith("?");
        const name = segment.slice(1, optional ? -1 : undefined);
        keys.push(name);
        return optional ? "(?:/([^/]+))?" : "/([^/]+)";
      }
      return "/" + segment.replace(/[.+^${}()|[\]\\]/g, "\\$&");
    })
    .join("");
  return { pattern: new RegExp(`^${source || "/"}/?$`, "i"), keys };
}

export class Router {
  private readonly routes: Route[] = [];
  private readonly middleware: Middleware[] = [];

  use(mw: Middleware): this {
    this.middleware.push(mw);
    return this;
  }

  add(method: HttpMethod, path: string, handler: Handler): this {
    const { pattern, keys } = compile(path);
    this.routes.push({ method, pattern, keys, handler });
    return this;
  }

  get(path: string, handler: Handler): this {
    return this.add("GET", path, handler);
  }

  post(path: string, handler: Handler): this {
    return this.add("POST", path, handler);
  }

  delete(path: string, handler: Handler): this {
    return this.add("DELETE", path, handler);
  }

  match(method: HttpMethod, path: string): Result<{ route: Route; params: Record<string, string> }, RouteError> {
    let pathMatched = false;
    for (const route of this.routes) {
      const m = route.pattern.exec(path);
      if (m === null) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      const params: Record<string, string> = {};
      route.keys.forEach((key, i) => {
        const value = m[i + 1];
        if (value !== undefined) params[key] = decodeURIComponent(value);
      });
      return ok({ route, params });
    }
    return err(pathMatched ? RouteError.MethodNotAllowed : RouteError.NotFound);
  }

  async handle(raw: Omit<Request, "params" | "query"> & { url: string }): Promise<Response> {
    const url = new URL(raw.url, "http://localhost");
    const found = this.match(raw.method, url.pathname);
    if (found.kind === "err") {
      return { status: found.error, body: { error: RouteError[found.error] } };
    }
    const req: Request = { ...raw, path: url.pathname, params: found.value.params, query: url.searchParams };
    const chain = [...this.middleware];
    const dispatch = async (index: number): Promise<Response> => {
      const mw = chain[index];
      if (mw === undefined) {
        return found.value.route.handler(req);
      }
      return mw(req, () => dispatch(index + 1));
    };
    try {
      return await dispatch(0);
    } catch (e) {
      if (e instanceof HttpError) {
        return { status: e.status, body: { error: e.message, ...e.details } };
      }
      return { status: 500, body: { error: "internal server error" } };
    }
  }
}

export const logger: Middleware = async (req, next) => {
  const started = Date.now();
  const res = await next();
  console.log(`${req.method} ${req.path} -> ${res.status} (${Date.now() - started} ms)`);
  return res;
};
