// A typed client for todod with openapi-fetch and the generated schema.d.ts:
// every path, parameter, body and response below is checked by tsc against
// todod's OpenAPI document.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Task = components["schemas"]["Task"];
export type TaskCreate = components["schemas"]["TaskCreate"];
export type Problem = components["schemas"]["Problem"];

/**
 * todoClient calls todod at baseUrl with a fresh bearer token on every
 * request. With Better Auth's jwt() plugin, getToken can be
 * `async () => (await authClient.token()).data?.token ?? ""`.
 */
export function todoClient(baseUrl: string, getToken: () => Promise<string>) {
  const client = createClient<paths>({ baseUrl });
  const bearer: Middleware = {
    async onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${await getToken()}`);
      return request;
    },
  };
  client.use(bearer);
  return client;
}

export type TodoClient = ReturnType<typeof todoClient>;

/** ProblemError carries todod's RFC 9457 problem; detail is always readable. */
export class ProblemError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail);
  }
}

/** pendingTasks lists every pending task, due soonest first, page by page. */
export async function pendingTasks(api: TodoClient): Promise<Task[]> {
  const tasks: Task[] = [];
  let cursor: string | undefined;
  do {
    const { data, error, response } = await api.GET("/api/tasks", {
      params: { query: { status: "pending", sort: "due", order: "asc", limit: 100, cursor } },
    });
    if (error) throw new ProblemError(error);
    tasks.push(...data);
    cursor = nextCursor(response.headers.get("Link"));
  } while (cursor);
  return tasks;
}

// nextCursor reads the cursor of the rel="next" URL of a Link header.
function nextCursor(link: string | null): string | undefined {
  const next = link?.match(/<([^>]+)>;\s*rel="next"/)?.[1];
  return next ? (new URL(next, "http://base.invalid").searchParams.get("cursor") ?? undefined) : undefined;
}

/**
 * addAndComplete creates a task, then completes it only if nobody changed it
 * in between (If-Match with the ETag of the creation): a 412 otherwise.
 */
export async function addAndComplete(api: TodoClient, task: TaskCreate): Promise<Task> {
  const created = await api.POST("/api/tasks", { body: task });
  if (created.error) {
    // A 422 lists every problem: [{location: "body.title", message: "…"}].
    throw new ProblemError(created.error);
  }
  const etag = created.response.headers.get("ETag") ?? "*";
  const done = await api.PATCH("/api/tasks/{id}/complete", {
    params: { path: { id: String(created.data.id) }, header: { "If-Match": etag } },
    body: { completed: true },
  });
  if (done.error) throw new ProblemError(done.error);
  return done.data;
}

/** The same client in the plan's path style, /api/{user_id}/tasks. */
export async function deleteForUser(api: TodoClient, userId: string, id: number): Promise<number> {
  const { data, error } = await api.DELETE("/api/{user_id}/tasks/{id}", {
    params: { path: { user_id: userId, id: String(id) } },
  });
  if (error) throw new ProblemError(error);
  return data.id; // {"message": "Task deleted successfully", "id": 42}
}
