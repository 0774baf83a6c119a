// The participant page's service worker (registered only over https: service workers need a
// secure context). It keeps the page and its files so that a reload without the server still
// opens the class; live.js then shows the plan and state it remembered (localStorage) and
// follows the plan until the server answers. Network first, always: a class page must never
// run stale code while the server is there. Served from the root so its scope is the site.

const CACHE = 'classctl-page-v1';
const PAGE = '/participant.html';   // what `/` and `/c/CODE` serve
const FILES = [
  PAGE, '/app/style.css', '/app/participant.js', '/app/live.js', '/app/clock.js',
  '/app/view-model.js', '/app/format.js', '/app/widgets.js', '/app/render-loop.js',
  '/app/test-hook.js', '/app/signals.js', '/app/gym.js', '/favicon.svg', '/manifest.webmanifest',
];
const NETWORK_WAIT_MS = 4_000;      // a silently dead link: give up on the network after this

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

/** The cache key of a request this worker keeps, or null to leave it to the network alone
 *  (the console, the API, QR codes, metrics; the WebSocket never comes here). */
function keyFor(request) {
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return null;
  if (request.mode === 'navigate') return /^\/(c\/[^/]+\/?)?$/.test(url.pathname) ? PAGE : null;
  return FILES.includes(url.pathname) ? url.pathname : null;
}

self.addEventListener('fetch', (event) => {
  const key = keyFor(event.request);
  if (key) event.respondWith(networkFirst(event.request, key));
});

async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  const network = fetch(request).then((response) => {
    if (response.ok) cache.put(key, response.clone());
    return response;
  });
  network.catch(() => {});          // handled below; do not report it twice
  const late = new Promise((resolve) => setTimeout(resolve, NETWORK_WAIT_MS));
  try {
    const response = await Promise.race([network, late]);
    if (response) return response;
  } catch { /* no network: the cache below */ }
  const cached = await cache.match(key);
  return cached ?? network;
}
