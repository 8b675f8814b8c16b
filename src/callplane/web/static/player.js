// The call page's recording player: a click on a line of the transcript, or on the waveform,
// plays the recording from there; the playing line is outlined and the waveform's playhead
// follows. A file of ours, not inline: the pages' CSP runs no inline script. Listeners sit on
// the document, so lines and a waveform swapped in later by htmx need no wiring of their own.
(function () {
  "use strict";
  function play(seconds) {
    var audio = document.getElementById("recording");
    if (!audio) { return; }
    audio.currentTime = seconds;
    audio.play().catch(function () { /* autoplay refused: the position still moved */ });
  }
  document.addEventListener("click", function (event) {
    var line = event.target.closest("#transcript [data-start]");
    if (line) {
      play(Number(line.dataset.start) / 1000);
      return;
    }
    var wave = event.target.closest("svg.waveform");
    if (wave) {
      var box = wave.getBoundingClientRect();
      var fraction = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
      play(fraction * Number(wave.dataset.durationMs) / 1000);
    }
  });
  // timeupdate does not bubble: listen in the capture phase.
  document.addEventListener("timeupdate", function (event) {
    var audio = event.target;
    if (audio.id !== "recording") { return; }
    var now = audio.currentTime * 1000;
    document.querySelectorAll("#transcript [data-start]").forEach(function (line) {
      var end = Number(line.dataset.end || line.dataset.start);
      line.classList.toggle("playing", now >= Number(line.dataset.start) && now < end);
    });
    var wave = document.querySelector("svg.waveform");
    var head = document.getElementById("playhead");
    if (wave && head && Number(wave.dataset.durationMs) > 0) {
      var bars = wave.viewBox.baseVal.width;
      head.setAttribute("x", String(Math.min(bars, now / Number(wave.dataset.durationMs) * bars)));
    }
  }, true);
})();
