// A tiny in-memory repository with typed queries, used by the example API.
import { Router, HttpError, logger } from "./router";

export interface Entity {
  readonly id: number;
  createdAt: Date;
}

export interface User extends Entity {
  name: string;
  email: string;
  role: "admin" | "member" | "guest";
  tags?: string[];
}

type Predicate<T> = (item: T) => boolean;
type SortKey<T> = { [K in keyof T]: T[K] extends string | number | Date ? K : never }[keyof T];

export abstract class Repository<T extends Entity> {
  protected items = new Map<number, T>();
  private nextId = 1;

  protected abstract validate(item: Omit<T, "id" | "createdAt">): string[];

  create(data: Omit<T, "id" | "createdAt">): T {
    const problems = this.validate(data);
    if (problems.length > 0) {
      throw new HttpError(422, "validation failed", { problems });
    }
    const item = { ...data, id: this.nextId++, createdAt: new Date() } as T;
    this.items.set(item.id, item);
    return item;
  }

  find(id: number): T | undefined {
    return this.items.get(id);
  }

  where(predicate: Predicate<T>, sortBy?: SortKey<T>, limit = 50): T[] {
    const rows = [...this.items.values()].filter(predicate);
    if (sortBy !== undefined) {
      rows.sort((a, b) => (a[sortBy] < b[sortBy] ? -1 : a[sortBy] > b[sortBy] ? 1 : 0));
    }
    return rows.slice(0, limit);
  }

  remove(id: number): boolean {
    return this.items.delete(id);
  }

  *[Symbol.iterator](): IterableIterator<T> {
    yield* this.items.values();
  }
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[a-z]{2,}$/i;

export class UserRepository extends Repository<User> {
  protected validate(user: Omit<User, "id" | "createdAt">): string[] {
    const problems: string[] = [];
    if (!user.name?.trim()) problems.push("name is required");
    if (!EMAIL.test(user.email)) problems.push(`invalid email: ${user.email}`);
    for (const other of this) {
      if (other.email.toLowerCase() === user.email.toLowerCase()) {
        problems.push("email already registered");
        break;
      }
    }
    return problems;
  }

  admins(): User[] {
    return this.where((u) => u.role === "admin", "name");
  }
}

export function buildApi(users = new UserRepository()): Router {
  const router = new Router().use(logger);

  router.get("/users", (req) => {
    const role = req.query.get("role");
    const limit = Number(req.query.get("limit") ?? 20);
    const rows = users.where((u) => role === null || u.role === role, "id", limit);
    return { status: 200, body: rows };
  });

  router.get("/users/:id", (req) => {
    const user = users.find(Number(req.params.id));
    if (!user) throw new HttpError(404, `user ${req.params.id} not found`);
    return { status: 200, body: user };
  });

  router.post("/users", (req) => {
    const created = users.create(req.body as Omit<User, "id" | "createdAt">);
    return { status: 201, headers: { location: `/users/${created.id}` }, body: created };
  });

  router.delete("/users/:id", (req) => ({
    status: users.remove(Number(req.params.id)) ? 204 : 404,
  }));

  return router;
}
