// The call page's recording player: a click on a line of the transcript plays the recording
// from that line's start. A file of ours, not inline: the pages' CSP runs no inline script.
(function () {
  "use strict";
  function wire() {
    var audio = document.getElementById("recording");
    if (!audio) { return; }
    document.querySelectorAll("#transcript [data-start]").forEach(function (line) {
      line.addEventListener("click", function () {
        audio.currentTime = Number(line.dataset.start) / 1000;
        audio.play();
      });
    });
    audio.addEventListener("timeupdate", function () {
      var now = audio.currentTime * 1000;
      document.querySelectorAll("#transcript [data-start]").forEach(function (line) {
        var end = Number(line.dataset.end || line.dataset.start);
        line.classList.toggle("playing", now >= Number(line.dataset.start) && now < end);
      });
    });
  }
  document.addEventListener("DOMContentLoaded", wire);
  // The page refreshes itself while a call is live (htmx swaps <main>): wire the new lines.
  document.addEventListener("htmx:afterSwap", wire);
})();
