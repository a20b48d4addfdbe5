/* The check-in desk's QR scanner. Reads the voucher's QR from the device camera
 * (getUserMedia) with the browser's BarcodeDetector when it supports QR codes, else
 * with the vendored jsQR; the decoded text goes into the same voucher form staff
 * type into, which is then submitted. Without JavaScript or a camera the form
 * works as it is. */
(function () {
  "use strict";
  var box = document.getElementById("scanner");
  var form = document.getElementById("code-form");
  var input = document.getElementById("code");
  if (!box || !form || !input || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return;
  }
  var startButton = document.getElementById("scan-start");
  var stopButton = document.getElementById("scan-stop");
  var video = document.getElementById("scan-video");
  var canvas = document.getElementById("scan-canvas");
  var status = document.getElementById("scan-status");
  var stream = null;
  var timer = null;
  var detector = null;
  box.hidden = false;

  function say(text) { status.textContent = text; }

  function stop() {
    if (timer) { clearInterval(timer); timer = null; }
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    video.hidden = true;
    stopButton.hidden = true;
    startButton.hidden = false;
  }

  function found(text) {
    if (!text) { return; }
    stop();
    input.value = text;
    say(box.dataset.found || "");
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  }

  function withJsQR() {
    if (!video.videoWidth) { return; }
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    var context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(video, 0, 0, canvas.width, canvas.height);
    var image = context.getImageData(0, 0, canvas.width, canvas.height);
    var code = window.jsQR && window.jsQR(image.data, image.width, image.height, {
      inversionAttempts: "attemptBoth"
    });
    if (code) { found(code.data); }
  }

  var busy = false;
  function tick() {
    if (busy || !stream) { return; }
    if (detector) {
      busy = true;
      detector.detect(video).then(function (codes) {
        busy = false;
        if (codes.length) { found(codes[0].rawValue); }
      }, function () { busy = false; detector = null; });
    } else {
      withJsQR();
    }
  }

  function chooseDecoder() {
    if (!("BarcodeDetector" in window)) { return Promise.resolve(null); }
    return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      return formats.indexOf("qr_code") >= 0
        ? new window.BarcodeDetector({ formats: ["qr_code"] })
        : null;
    }, function () { return null; });
  }

  startButton.addEventListener("click", function () {
    say(box.dataset.starting || "");
    chooseDecoder().then(function (d) {
      detector = d;
      return navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment" }, audio: false
      });
    }).then(function (s) {
      stream = s;
      video.srcObject = s;
      video.hidden = false;
      startButton.hidden = true;
      stopButton.hidden = false;
      return video.play();
    }).then(function () {
      say(box.dataset.scanning || "");
      timer = setInterval(tick, 200);
    }).catch(function () {
      stop();
      say(box.dataset.failed || "");
    });
  });
  stopButton.addEventListener("click", stop);
})();
