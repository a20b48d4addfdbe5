// Keeps voucher pages for offline use: network first (a rescheduled or cancelled
// booking shows as it is now), the last copy when there is no connection.
// Scope: /v/ (this script is served at /v/sw.js). Only GETs of voucher pages and
// their own static files are touched; manage and offer pages always go to the network.
"use strict";
var CACHE = "sentra-vouchers-v1";

function cacheable(url) {
  if (url.origin !== self.location.origin) return false;
  var path = url.pathname;
  if (path.indexOf("/v/static/") === 0 || path.indexOf("/static/") === 0) return true;
  return /^\/v\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(path);
}

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET" || !cacheable(new URL(request.url))) return;
  event.respondWith(
    fetch(request).then(function (response) {
      if (response.ok) {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
      }
      return response;
    }).catch(function () {
      return caches.match(request).then(function (hit) { return hit || Response.error(); });
    })
  );
});
