// Voucher page: a print button, and a service worker that keeps the last copy of each
// voucher page so it opens without a connection. The page works without this script.
(function () {
  "use strict";
  var print = document.querySelector(".js-print");
  if (print && window.print) {
    print.hidden = false;
    print.addEventListener("click", function (event) {
      event.preventDefault();
      window.print();
    });
  }
  var voucher = document.querySelector("[data-sw]");
  if (voucher && "serviceWorker" in navigator) {
    navigator.serviceWorker.register(voucher.getAttribute("data-sw")).catch(function () {});
  }
})();
