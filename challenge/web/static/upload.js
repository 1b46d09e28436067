/* Resumable uploads for every form rendered by the upload_form macro (uploads.html), with
 * tus-js-client (/static/vendor/tus.min.js) against the server's /uploads/ (tus 1.0.0).
 *
 * The file goes in 8 MiB PATCH requests; a failed request is retried after the delays
 * below; the upload's address is remembered in localStorage (keyed by kind, target and the
 * file), so a reload or a dropped connection resumes where the server says it stopped.
 * The progress bar and an aria-live status say how far it is; when the last byte is in,
 * the result (/uploads/<id>/result) is polled and the browser goes to the new submission's
 * or dataset's page, or the refusal is shown in words. No inline script or style (CSP). */
(function () {
  "use strict";

  var CHUNK_BYTES = 8 * 1024 * 1024;
  var RETRY_DELAYS_MS = [0, 1000, 3000, 5000, 10000, 20000, 30000];
  var POLL_MS = 1000;

  function errorWords(err) {
    var response = err && err.originalResponse;
    if (response) {
      try {
        var body = JSON.parse(response.getBody() || "{}");
        if (body.error && body.error.message) { return body.error.message; }
      } catch (ignored) { /* not JSON: fall through */ }
      return "The server refused the upload (HTTP " + response.getStatus() + ").";
    }
    return "The upload stopped: " + (err && err.message ? err.message : "unknown error") +
      ". Choose the same file again to resume.";
  }

  function setup(form) {
    var kind = form.getAttribute("data-upload-kind");
    var target = form.getAttribute("data-upload-target");
    var file = form.querySelector("input[type=file]");
    var bar = form.querySelector("progress");
    var status = form.querySelector("[aria-live]");
    var button = form.querySelector("button[type=submit]");
    var checking = kind === "dataset" ? "Checking the dataset..." : "Checking the archive...";
    var busy = false;

    function say(text) { status.textContent = text; }
    function done(text) { busy = false; button.disabled = false; say(text); }

    function metadata(chosen) {
      var meta = { kind: kind, target: target, filename: chosen.name };
      var name = form.querySelector("input[name=name]");
      var strip = form.querySelector("input[name=strip_identifiers]");
      var comment = form.querySelector("textarea[name=comment]");
      if (name) { meta.name = name.value.trim(); }
      if (strip) { meta.strip_identifiers = strip.checked ? "true" : "false"; }
      if (comment && comment.value) { meta.comment = comment.value; }
      return meta;
    }

    function poll(url) {
      fetch(url + "/result", { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (result) {
          if (result.state === "complete") {
            say("Done. Opening the result...");
            window.location.assign(result.location);
          } else if (result.state === "failed") {
            done("Refused: " + result.error.message);
          } else {
            window.setTimeout(function () { poll(url); }, POLL_MS);
          }
        })
        .catch(function () { window.setTimeout(function () { poll(url); }, POLL_MS * 3); });
    }

    function start(chosen) {
      busy = true;
      button.disabled = true;
      bar.value = 0;
      say("Starting the upload...");
      var upload = new window.tus.Upload(chosen, {
        endpoint: form.getAttribute("data-endpoint"),
        chunkSize: CHUNK_BYTES,
        retryDelays: RETRY_DELAYS_MS,
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: true,
        metadata: metadata(chosen),
        headers: { "X-CSRF-Token": form.getAttribute("data-csrf") },
        fingerprint: function (f) {
          return Promise.resolve(["segarena", kind, target, f.name, f.size, f.lastModified]
            .join("/"));
        },
        onProgress: function (sent, total) {
          var percent = total ? Math.floor((sent / total) * 100) : 0;
          bar.value = percent;
          bar.textContent = percent + " %";
          say(sent === total ? checking : "Uploaded " + percent + " %");
        },
        onSuccess: function () { say(checking); poll(upload.url); },
        onError: function (err) { done(errorWords(err)); }
      });
      upload.findPreviousUploads().then(function (previous) {
        if (previous.length) { upload.resumeFromPreviousUpload(previous[0]); }
        upload.start();
      });
    }

    button.disabled = false;
    if (!form.hasAttribute("action")) { say(""); }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) { return; }
      if (!window.tus || !window.tus.isSupported) {
        say("This browser cannot upload in pieces; try a current browser.");
        return;
      }
      if (!file.files.length) { say("Choose a file first."); file.focus(); return; }
      start(file.files[0]);
    });
    // Tests and assistive scripts wait for this before using the form: until now a press
    // of the button would post the no-JavaScript fallback instead.
    form.dataset.ready = "true";
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-upload-kind]"), setup);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
