// Sends the chosen or dropped CSV as the request body (streamed by the browser), shows how
// much is sent, then opens the preview. Nothing is imported until the preview is confirmed.
(function () {
  var form = document.getElementById("upload");
  var input = document.getElementById("file");
  var drop = document.getElementById("drop");
  var bar = document.getElementById("sent");
  var said = document.getElementById("said");
  function send(file) {
    if (!file) { return; }
    var request = new XMLHttpRequest();
    request.open("POST", form.getAttribute("action") + "&name=" + encodeURIComponent(file.name));
    request.setRequestHeader("Content-Type", "text/csv");
    request.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
    bar.hidden = false;
    said.textContent = "sending " + file.name + "…";
    request.upload.onprogress = function (event) {
      if (event.lengthComputable) { bar.value = (100 * event.loaded) / event.total; }
    };
    request.onload = function () {
      var answer = {};
      try { answer = JSON.parse(request.responseText); } catch (e) { answer = {}; }
      if (request.status === 200 && answer.preview) { window.location = answer.preview; return; }
      said.textContent = answer.error || ("the upload failed (" + request.status + ")");
      said.className = "error";
    };
    request.onerror = function () { said.textContent = "the upload failed"; said.className = "error"; };
    request.send(file);
  }
  input.addEventListener("change", function () { send(input.files[0]); });
  ["dragenter", "dragover"].forEach(function (name) {
    drop.addEventListener(name, function (event) { event.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    drop.addEventListener(name, function () { drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (event) {
    event.preventDefault();
    send(event.dataTransfer.files[0]);
  });
})();
