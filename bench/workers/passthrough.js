// Benchmark variant (a): the floor. A module worker that forwards every request to the origin
// unchanged — no authentication, no header work — so the other variants can be read as ratios of it.

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.ORIGIN + url.pathname + url.search, request);
  },
};
