// The cloud's API as the dashboard uses it: the key from session storage as a bearer header on every request, and the
// live feed (GET /api/stream, server-sent events) read with fetch so that header goes along (EventSource cannot send it).

const KEY = 'yolofleet.apiKey';

export class Unauthorized extends Error {}

export const apiKey = {
  get: () => sessionStorage.getItem(KEY),
  set: (key) => sessionStorage.setItem(KEY, key),
  clear: () => sessionStorage.removeItem(KEY),
};

function headers() {
  return { Authorization: `Bearer ${apiKey.get() ?? ''}` };
}

async function request(path, init = {}) {
  const response = await fetch(path, { ...init, headers: { ...headers(), ...(init.headers ?? {}) } });
  if (response.status === 401) {
    throw new Unauthorized(await problem(response));
  }
  if (!response.ok) {
    const error = new Error(`${path}: ${response.status} ${await problem(response)}`);
    error.status = response.status;
    throw error;
  }
  return response;
}

async function problem(response) {
  try {
    const body = await response.json();
    return body.detail ?? body.title ?? JSON.stringify(body);
  } catch {
    return response.statusText;
  }
}

export async function getJson(path) {
  return (await request(path)).json();
}

/** A list endpoint's rows: a plain array, or the items of a {items, nextCursor} page. */
export async function getRows(path) {
  const body = await getJson(path);
  return Array.isArray(body) ? body : (body?.items ?? body?.rows ?? []);
}

/** An image the API serves, as an object URL (an img element cannot send the bearer header itself). */
export async function getImageUrl(path) {
  return URL.createObjectURL(await (await request(path)).blob());
}

/**
 * Reads GET /api/stream until it ends or `signal` aborts, calling onEvent(name, data) for each event. Throws
 * Unauthorized on 401; any other end returns, and the caller reconnects.
 */
export async function readStream(onEvent, signal) {
  const response = await request('/api/stream', { signal, headers: { Accept: 'text/event-stream' } });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      return;
    }
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
      }
      if (data.length > 0) {
        onEvent(name, JSON.parse(data.join('\n')));
      }
    }
  }
}
