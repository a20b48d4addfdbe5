/* Observation countdowns: the server says when each person's 30 minutes end; this
 * only counts down on screen (corrected for the device clock's difference from the
 * server's). Without JavaScript the page shows the minutes as of its loading. */
(function () {
  "use strict";
  var main = document.querySelector("[data-server-now]");
  if (!main) { return; }
  var skew = Date.parse(main.getAttribute("data-server-now")) - Date.now();
  function update() {
    var now = Date.now() + skew;
    document.querySelectorAll(".countdown[data-until]").forEach(function (el) {
      var left = Math.floor((Date.parse(el.getAttribute("data-until")) - now) / 60000);
      el.textContent = left > 0
        ? el.getAttribute("data-template").replace("{n}", String(left))
        : el.getAttribute("data-done");
    });
  }
  setInterval(update, 15000);
})();
