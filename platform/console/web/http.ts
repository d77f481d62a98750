/**
 * The console's calls to its JSON API: the operator token from sessionStorage as a bearer header on every call
 * (no cookie, so no CSRF), problems (RFC 9457) turned into errors that carry their status and detail.
 */
const TOKEN_KEY = 'cloudphone.console.token';

export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (value: string): void => sessionStorage.setItem(TOKEN_KEY, value),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Called when the API refuses the token (401): the page goes back to the login form. */
let onUnauthorized: () => void = () => undefined;
export const whenUnauthorized = (f: () => void): void => {
  onUnauthorized = f;
};

async function call(method: string, path: string): Promise<Response> {
  return fetch(path, {
    method,
    headers: { Accept: 'application/json', Authorization: `Bearer ${token.get() ?? ''}` },
    credentials: 'omit',
    cache: 'no-store',
  });
}

export async function getJson<T>(path: string): Promise<T> {
  const res = await call('GET', path);
  const body = (await res.json().catch(() => ({}))) as { detail?: string };
  if (res.status === 401) {
    token.clear();
    onUnauthorized();
  }
  if (!res.ok) throw new ApiError(res.status, body.detail ?? `${res.status} ${res.statusText}`);
  return body as T;
}

export async function postJson<T>(path: string): Promise<T> {
  const res = await call('POST', path);
  const body = (await res.json().catch(() => ({}))) as { detail?: string };
  if (!res.ok) throw new ApiError(res.status, body.detail ?? `${res.status} ${res.statusText}`);
  return body as T;
}
