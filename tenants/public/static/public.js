// Progressive enhancement only: every step works without this file.
(function () {
  "use strict";
  // Move focus to the error summary so screen readers and keyboards land on it.
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
  // A confirmation is sent once, even on a double tap.
  var confirm = document.getElementById("confirm-form");
  if (confirm) {
    confirm.addEventListener("submit", function () {
      var button = document.getElementById("confirm");
      if (button) { button.disabled = true; }
    });
  }
})();
