// The S3 page's upload: the console signs a PUT URL with the session's credentials, then the browser sends
// the file straight to S3 (same origin, so no CORS rule is needed) and shows how far it has got.
// A static file because the Content-Security-Policy forbids inline script.
"use strict";

(function () {
  const form = document.getElementById("upload-form");
  if (!form) {
    return;
  }
  const fileInput = document.getElementById("upload-file");
  const button = document.getElementById("upload-submit");
  const progress = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");

  function say(text, failed) {
    status.textContent = text;
    status.classList.toggle("failed", Boolean(failed));
  }

  // S3 answers an error as XML: <Error><Code>..</Code><Message>..</Message></Error>.
  function s3Error(xhr) {
    const xml = xhr.responseXML;
    const code = xml && xml.querySelector("Code");
    const message = xml && xml.querySelector("Message");
    return code ? code.textContent + ": " + (message ? message.textContent : "") : "HTTP " + xhr.status;
  }

  function put(url, file, key) {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) {
        progress.max = event.total;
        progress.value = event.loaded;
        say("Uploading " + key + ": " + Math.floor((100 * event.loaded) / event.total) + "%");
      }
    });
    xhr.addEventListener("load", function () {
      button.disabled = false;
      if (xhr.status >= 200 && xhr.status < 300) {
        progress.value = progress.max;
        say("Uploaded " + key + ".");
        // The listing is the server's: reload it once the object is there.
        window.setTimeout(function () { window.location.assign(form.dataset.done); }, 800);
      } else {
        say("Upload failed: " + s3Error(xhr), true);
      }
    });
    xhr.addEventListener("error", function () {
      button.disabled = false;
      say("Upload failed: the connection was lost.", true);
    });
    xhr.send(file);
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const file = fileInput.files[0];
    if (!file) {
      return;
    }
    const key = form.dataset.prefix + file.name;
    const body = new FormData();
    body.set("_csrf", form.querySelector("input[name=_csrf]").value);
    body.set("key", key);
    button.disabled = true;
    progress.hidden = false;
    progress.max = Math.max(file.size, 1);
    progress.value = 0;
    say("Signing the upload of " + key + "…");
    try {
      const answer = await fetch(form.action, { method: "POST", body: body, credentials: "same-origin" });
      const signed = await answer.json();
      if (!answer.ok) {
        button.disabled = false;
        say("Upload refused: " + signed.code + ": " + signed.message, true);
        return;
      }
      put(signed.url, file, key);
    } catch (problem) {
      button.disabled = false;
      say("Upload failed: " + problem, true);
    }
  });
})();
