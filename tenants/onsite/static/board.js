/* The live venue board refreshes itself: every 15 seconds it fetches the board's
 * body (server-rendered HTML, the same template the page includes) and swaps it in.
 * Without JavaScript the page is the same board, current at each reload. */
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board || !window.fetch) { return; }
  var url = board.getAttribute("data-live");
  function refresh() {
    if (document.hidden) { return; }
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { board.innerHTML = html; } })
      .catch(function () { /* a poor network: keep the last board, try again */ });
  }
  setInterval(refresh, 15000);
})();
